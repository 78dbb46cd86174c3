"""rollbot.yaml: the example loads, defaults fill the gaps, and every mistake names its key.

Given a configuration derived from the shipped example with one value changed, when it is
parsed, then either it becomes the expected domain values or a ConfigError says which key
is wrong and why.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import (
    AppConfig,
    Config,
    ConfigProblems,
    default_config_text,
    load_config,
    parse_config,
)
from rollout.errors import ConfigError
from rollout.model import AppSpec, HealthSpec, Settings, Strategy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "rollbot.example.yaml"
ECR = "123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac"


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


HELM_APP = {
    "strategy": "helm",
    "chart": "oci://123456789.dkr.ecr.us-east-1.amazonaws.com/charts/isp-ops-tenant",
    "release_name": "{slug}-isp",
    "tenant_selector": "app.kubernetes.io/component=tenant",
    "deployment": "isp-ops-app",
    "values_key": "image.tag",
    "helm": "helm",
    "approvers": ["S0LEADS"],
}


def with_helm_app() -> dict[str, Any]:
    """The example plus SPEC section 11's `isp-helm` app, as written there."""
    data = example()
    data["apps"]["isp-helm"] = copy.deepcopy(HELM_APP)
    return data


def changed(key: str, value: Any, *, data: dict[str, Any] | None = None) -> str:
    """The example as YAML text with the dotted `key` set to `value` (or removed: ...);
    for a key of `apps.isp-helm`, the example with that app added first."""
    if data is None:
        data = with_helm_app() if key.startswith("apps.isp-helm.") else example()
    data = copy.deepcopy(data)
    *parents, last = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = value
    return yaml.safe_dump(data, sort_keys=False)


def refusal(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as refused:
        parse_config(text)
    return refused.value


MINIMAL_ROLLING = {
    "apps": {
        "isp": {
            "strategy": "rolling",
            "image": f"{ECR}/isp-ops-app",
            "deployment": "isp-ops-app",
            "container": "frontend",
            "approvers": ["S0LEADS"],
        }
    }
}


# --- the example and the defaults -----------------------------------------------------------


def test_the_example_loads_into_the_engines_terms() -> None:
    config = parse_config(EXAMPLE.read_text(encoding="utf-8"))

    assert config.slack.release_channels == ("C0RELEASES",)
    assert config.slack.notify_channel == "C0STAKEHOLDERS"
    assert (config.registry.verify_images, config.registry.insecure) == (True, False)
    isp = config.app("isp")
    assert replace(isp, versions=()) == AppSpec(
        name="isp", strategy=Strategy.ROLLING, image=f"{ECR}/isp-ops-app",
        deployment="isp-ops-app", container="frontend", settings=Settings(),
        deployers=("U0ALICE", "S0RELEASE"), approvers=("U0BOB", "S0LEADS"),
        tenant_selector="app.kubernetes.io/component=tenant", app_label="isp-ops-app",
    )  # fmt: skip
    rules = {rule.bump: rule for rule in isp.versions}
    assert rules["patch"].settings == Settings(pilot_count=1, approval=False)
    assert rules["minor"].settings == Settings(pilot_count=2, approval=True)
    assert rules["major"].settings == Settings(pilot_count=0, batch_percent=100,
                                               approvals_required=2)
    assert [rule.window_required for rule in isp.versions] == [False, False, True]
    assert rules["major"].windows[0].days == frozenset({5, 6})  # sat, sun
    admin = config.app("admin")
    assert admin.strategy is Strategy.BLUE_GREEN
    assert (admin.namespace, admin.service, admin.config_map, admin.app_label) == (
        "platform-admin", "platform-admin-app", "platform-admin-config", "platform-admin-app",
    )  # fmt: skip
    assert admin.settings == Settings(approval=False, monitor_seconds=300)
    assert set(config.apps_specs()) == {"admin", "isp"}
    assert config.health_spec() == HealthSpec()


def test_the_built_in_default_is_the_example_word_for_word() -> None:
    assert default_config_text() == EXAMPLE.read_text(encoding="utf-8")


def test_unset_keys_take_the_domains_defaults() -> None:
    config = parse_config(yaml.safe_dump(MINIMAL_ROLLING))

    assert config.app("isp").settings == Settings()
    assert config.app("isp").tenant_selector == "app.kubernetes.io/component=tenant"
    assert config.health_spec() == HealthSpec()
    assert config.slack.release_channels == ()
    assert config.slack.notify_channel is None
    assert config.registry.verify_images is True
    limits = config.kubernetes
    assert (limits.max_in_flight, limits.qps, limits.burst) == (32, 100.0, 300)
    assert limits.parallel_tenants == 64


def test_values_in_every_accepted_form_become_settings() -> None:
    text = changed("apps.isp", {
        **example()["apps"]["isp"], "batch": "10%", "wait": "1h30m",
        "pilot": ["tenant-a", "tenant-b"], "error_rate": 0.025, "latency_factor": None,
        "waves": "double", "approvals_required": 2, "tenant_order": "tenant-b,tenant-a",
        "crashloop_restarts": 5,
    })  # fmt: skip

    spec = parse_config(text).app("isp")

    assert spec.settings.batch_percent == 10
    assert spec.settings.wait_seconds == 5400
    assert (spec.settings.pilot_count, spec.settings.pilot_tenants) == (2, ("tenant-a", "tenant-b"))
    assert spec.settings.error_rate == 0.025
    assert spec.settings.latency_factor is None
    assert spec.settings.waves == "double"
    assert spec.tenant_order == ("tenant-b", "tenant-a")
    assert spec.settings.crashloop_restarts == 5


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("apps.isp.error_rate", "2.5%", 0.025),
        ("apps.isp.latency_factor", False, None),
        ("apps.isp.pilot", 0, 0),
        ("apps.isp.pilot", "3", 3),
        ("apps.admin.remove_old_after", "1h", 3600),
        ("apps.isp.deployers", "U0ALICE", ("U0ALICE",)),
        ("apps.isp.approvers", ["W0CAROL", "S0LEADS", "W0CAROL"], ("W0CAROL", "S0LEADS")),
    ],
)
def test_alternative_spellings_are_understood(key: str, value: Any, expected: Any) -> None:
    config = parse_config(changed(key, value))
    app = config.apps[key.split(".")[1]]
    assert getattr(app, key.split(".")[2]) == (expected if key != "apps.isp.batch" else app.batch)
    if key == "apps.isp.batch":
        assert app.batch.size == expected


# --- refusals -------------------------------------------------------------------------------

BAD_VALUES = [
    ("slack.release_channels", ["#releases"], "channel ID"),
    ("slack.notify_channel", "stakeholders", "channel ID"),
    ("registry.verify_images", "yes please", "true or false"),
    ("registry.insecure", 1, "true or false"),
    ("apps.isp.strategy", "canary", "'rolling', 'blue-green' or 'helm'"),
    ("apps.isp.build", "apps/isp-ops-app/Dockerfile", "must be a mapping"),
    ("apps.isp.versions", "minor", "must be a mapping"),
    ("apps.isp.versions.mayor", {}, "is not a known key; did you mean major?"),
    ("apps.isp.versions.minor.pilots", 2, "is not a known key; did you mean pilot?"),
    ("apps.isp.versions.minor.pilot", -1, "must be a count like 2"),
    ("apps.isp.versions.major.window", "yes", "'required'"),
    ("apps.isp.versions.major.monitor", "5m", "applies only to blue-green apps"),
    ("release.windows", "sat", "must be a list of windows"),
    ("apps.isp.image", f"{ECR}/isp-ops-app:v1.2.0", "without a tag"),
    ("apps.isp.image", "Not An Image", "image repository"),
    ("apps.isp.deployment", "ISP_ops", "Kubernetes name"),
    ("apps.isp.container", 12, "Kubernetes name"),
    ("apps.isp.deployers", ["alice"], "'alice'"),
    ("apps.isp.approvers", ["C0RELEASES"], "user-group ID"),
    ("apps.isp.tenant_selector", "", "label selector"),
    ("apps.isp.tenant_order", ["tenant-a", "tenant-a"], "twice"),
    ("apps.isp.batch", "zero", "must be a positive number or a percentage like 10%, got 'zero'"),
    ("apps.isp.batch", 0, "got 0"),
    ("apps.isp.batch", "150%", "percentage"),
    ("apps.isp.batch", True, "got true"),
    ("apps.isp.waves", "triple", "'fixed' or 'double'"),
    ("apps.isp.wait", 60, "with a unit"),
    ("apps.isp.wait", "soon", "duration like 30s"),
    ("apps.isp.wait", "200h", "at most 7 days"),
    ("apps.isp.pilot", -1, "count like 2"),
    ("apps.isp.pilot", ["Tenant-A"], "not a namespace name"),
    ("apps.isp.pilot_monitor", "30", "with a unit"),
    ("apps.isp.rollout_timeout", "0s", "longer than 0s"),
    ("apps.isp.approval", "maybe", "true or false"),
    ("apps.isp.approvals_required", 0, "1 or more"),
    ("apps.isp.crashloop_restarts", 0, "1 or more"),
    ("apps.isp.four_eyes", None, "true or false"),
    ("apps.isp.terminal_auto_approve", "yes", "true or false"),
    ("apps.isp.approval_timeout", "forever", "duration"),
    ("apps.isp.auto_rollback", "no", "true or false"),
    ("apps.isp.error_rate", 5, "did you mean 5%?"),
    ("apps.isp.error_rate", "0%", "percentage like 5%"),
    ("apps.isp.error_rate", "five", "percentage like 5%"),
    ("apps.isp.latency_factor", 0.5, "at least 1.0"),
    ("apps.isp.latency_factor", "fast", "at least 1.0"),
    ("apps.admin.namespace", "Platform Admin", "Kubernetes name"),
    ("apps.admin.service", "", "Kubernetes name"),
    ("apps.admin.config_map", "cfg_", "Kubernetes name"),
    ("apps.admin.monitor", "5", "with a unit"),
    ("apps.admin.remove_old_after", "later", "duration"),
    ("apps.admin.app_label", "-bad-", "label value"),
    ("apps.isp-helm.chart", "", "non-empty"),
    ("apps.isp-helm.release_name", "{tenant}-isp", "only {slug} and {namespace}"),
    ("apps.isp-helm.release_name", "{slug}_ISP", "lowercase letters"),
    ("apps.isp-helm.values_key", "image tag", "dotted values key"),
    ("apps.isp-helm.helm", "", "non-empty"),
    ("health.port", 99999, "1 to 65535"),
    ("health.path", "api/health", "starting with /"),
    ("health.ready_path", 3, "starting with /"),
    ("health.log_window", "0s", "longer than 0s"),
    ("kubernetes.max_in_flight", 0, "1 or more"),
    ("kubernetes.qps", -1, "greater than or equal to 0"),
    ("kubernetes.qps", "fast", "must be a number"),
    ("kubernetes.burst", 0, "1 or more"),
    ("kubernetes.parallel_tenants", "many", "1 or more"),
    ("apps.isp", None, "mapping"),
    ("slack", ["C0RELEASES"], "mapping"),
]


@pytest.mark.parametrize(("key", "value", "fragment"), BAD_VALUES)
def test_a_bad_value_is_refused_naming_its_key(key: str, value: Any, fragment: str) -> None:
    error = refusal(changed(key, value))

    assert error.key == key
    assert fragment in error.problem
    assert str(error).startswith(f"{key}: ")


PROMQL = (
    'sum(rate(http_requests_total{namespace="$namespace",code=~"5.."}[$window])) / '
    'sum(rate(http_requests_total{namespace="$namespace"}[$window]))'
)


def with_prometheus(**prometheus: Any) -> str:
    """The example with a `health.prometheus` block; a key given as ... is left out."""
    data = example()
    block = {"url": "http://prom:9090/", "error_rate_query": PROMQL, **prometheus}
    data["health"]["prometheus"] = {k: v for k, v in block.items() if v is not ...}
    return yaml.safe_dump(data, sort_keys=False)


def test_prometheus_for_error_rates_is_optional_and_checked() -> None:
    assert parse_config(yaml.safe_dump(example())).health.prometheus is None
    prometheus = parse_config(with_prometheus(timeout="5s")).health.prometheus
    assert prometheus is not None
    assert prometheus.url == "http://prom:9090"  # a trailing slash is dropped
    assert prometheus.error_rate_query == PROMQL and prometheus.timeout == 5
    assert parse_config(with_prometheus()).health.prometheus.timeout == 10  # type: ignore[union-attr]
    missing = refusal(with_prometheus(url=...))
    assert missing.key == "health.prometheus.url"


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("url", "prometheus:9090", "http:// or https:// URL"),
        ("url", "http://prom/?q=1", "http:// or https:// URL"),
        ("error_rate_query", "sum(rate(errors[5m]))", "must contain $namespace"),
        ("error_rate_query", "  ", "PromQL query"),
        ("timeout", "0s", "longer than 0s"),
    ],
)
def test_a_bad_prometheus_value_is_refused_naming_its_key(
    key: str, value: Any, fragment: str
) -> None:
    error = refusal(with_prometheus(**{key: value}))
    assert error.key == f"health.prometheus.{key}"
    assert fragment in error.problem


def test_every_key_of_an_app_has_a_refusal_test() -> None:
    tested = {
        key.split(".")[2] for key, _, _ in BAD_VALUES if key.startswith("apps.") and "." in key[5:]
    }
    assert set(AppConfig.model_fields) - tested == set()


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("apps.isp.bacth", "did you mean batch?"),
        ("slack.notify_chanel", "did you mean notify_channel?"),
        ("helth", "did you mean health?"),
        ("health.zzz", "known keys: port, path, ready_path, log_window"),
    ],
)
def test_an_unknown_key_is_named_with_a_suggestion(key: str, hint: str) -> None:
    error = refusal(changed(key, "x"))
    assert error.key == key
    assert error.problem.startswith("is not a known key")
    assert hint in error.problem


@pytest.mark.parametrize("key", ["apps.isp.strategy", "apps.isp.image", "apps.isp.container"])
def test_a_missing_required_key_is_named(key: str) -> None:
    error = refusal(changed(key, ...))
    assert (error.key, error.problem) == (key, "is required")


@pytest.mark.parametrize("key", ["namespace", "service", "config_map"])
def test_blue_green_apps_need_namespace_service_and_config_map(key: str) -> None:
    error = refusal(changed(f"apps.admin.{key}", ...))
    assert error.key == f"apps.admin.{key}"
    assert "required for blue-green apps" in error.problem


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("apps.isp.service", "isp", "applies only to blue-green apps, and isp is rolling"),
        ("apps.admin.batch", 5, "applies only to rolling apps, and admin is blue-green"),
    ],
)
def test_a_key_of_the_other_strategy_is_refused(key: str, value: Any, problem: str) -> None:
    error = refusal(changed(key, value))
    assert (error.key, error.problem) == (key, problem)


def test_an_approval_gate_needs_someone_who_may_approve() -> None:
    error = refusal(changed("apps.isp.approvers", []))
    assert error.key == "apps.isp.approvers"
    assert "nobody could approve" in error.problem

    error = refusal(changed("apps.isp.approvers", ["U0BOB"], data=yaml.safe_load(
        changed("apps.isp.approvals_required", 2))))  # fmt: skip
    assert error.key == "apps.isp.approvals_required"


@pytest.mark.parametrize(("name", "problem"), [("status", "sub-command"), ("ISP", "lowercase")])
def test_app_names_must_be_typeable_and_not_a_sub_command(name: str, problem: str) -> None:
    data = example()
    data["apps"][name] = data["apps"].pop("isp")
    error = refusal(yaml.safe_dump(data))
    assert error.key == f"apps.{name}"
    assert problem in error.problem


def test_no_apps_at_all_is_refused() -> None:
    assert refusal(changed("apps", {})).key == "apps"
    assert refusal(changed("apps", ...)).key == "apps"


def test_several_problems_are_reported_together() -> None:
    text = changed("apps.isp.wait", "soon", data=yaml.safe_load(changed("apps.isp.batch", "zero")))
    error = refusal(text)
    assert isinstance(error, ConfigProblems)
    assert [key for key, _ in error.problems] == ["apps.isp.batch", "apps.isp.wait"]
    assert str(error).splitlines()[1].startswith("apps.isp.wait: ")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("slack:\n  release_channels: [C0RELEASES\napps: {}\n", 3),
        ("apps:\n  isp:\n    batch: 5\n   wait: 1m\n", 4),
        ("apps:\n  isp:\n    batch: 5\n    batch: 6\n", 4),
    ],
)
def test_a_yaml_error_names_the_line(text: str, line: int) -> None:
    error = refusal(text)
    assert error.key == "rollbot.yaml"
    assert "is not valid YAML" in error.problem
    assert f"line {line}," in error.problem


@pytest.mark.parametrize(("text", "problem"), [("", "is empty"), ("- a\n- b\n", "mapping")])
def test_a_file_without_a_mapping_is_refused(text: str, problem: str) -> None:
    assert problem in refusal(text).problem


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@settings(max_examples=80, deadline=None)
@given(key=st.sampled_from(sorted(AppConfig.model_fields)), value=_VALUES)
def test_any_value_for_any_key_loads_or_is_refused_as_a_config_error(key: str, value: Any) -> None:
    try:
        config = parse_config(changed(f"apps.isp.{key}", value))
    except ConfigError as err:
        assert err.key.startswith(("apps.isp", "rollbot.yaml"))
    else:
        assert isinstance(config.app("isp"), AppSpec)


# --- finding the file -----------------------------------------------------------------------


def test_without_any_file_the_built_in_default_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ROLLBOT_CONFIG", raising=False)

    config = load_config()

    assert config.source == "built-in defaults"
    assert set(config.apps) == {"admin", "isp"}


def test_rollbot_yaml_in_the_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ROLLBOT_CONFIG", raising=False)
    (tmp_path / "rollbot.yaml").write_text(yaml.safe_dump(MINIMAL_ROLLING), encoding="utf-8")

    config = load_config()

    assert config.source == "./rollbot.yaml"
    assert list(config.apps) == ["isp"]


def test_rollbot_config_points_at_the_file_and_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "elsewhere.yaml"
    path.write_text(yaml.safe_dump(MINIMAL_ROLLING), encoding="utf-8")
    monkeypatch.setenv("ROLLBOT_CONFIG", str(path))
    assert load_config().source == str(path)

    monkeypatch.setenv("ROLLBOT_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError) as refused:
        load_config()
    assert (refused.value.key, refused.value.problem) == (
        str(tmp_path / "missing.yaml"),
        "no such file",
    )


def test_an_explicit_path_must_exist_and_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("apps: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(broken)
    assert refused.value.key == str(broken)


def test_config_is_frozen() -> None:
    config = parse_config(default_config_text())
    with pytest.raises(ValueError, match="frozen"):
        config.health = config.health
    assert isinstance(config, Config)


# --- helm apps (SPEC section 11) ------------------------------------------------------------


def test_the_spec_s_helm_app_loads_as_written() -> None:
    # Given SPEC section 11's app, which names no image and no container
    config = parse_config(yaml.safe_dump(with_helm_app()))

    # Then it is a helm app with its chart, release names and values key
    spec = config.app("isp-helm")
    assert (spec.strategy, spec.chart, spec.values_key) == (
        Strategy.HELM, HELM_APP["chart"], "image.tag")
    assert (spec.image, spec.container, spec.deployment) == ("", "", "isp-ops-app")
    assert spec.release("tenant-fast-fiber") == "fast-fiber-isp"
    assert config.apps["isp-helm"].helm == "helm"


def test_a_helm_app_needs_a_chart() -> None:
    error = refusal(changed("apps.isp-helm.chart", ...))
    assert (error.key, error.problem) == (
        "apps.isp-helm.chart", "is required for helm apps (a chart path or an oci:// reference)")


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("apps.isp.chart", "./chart", "applies only to helm apps, and isp is rolling"),
        ("apps.admin.values_key", "tag", "applies only to helm apps, and admin is blue-green"),
        ("apps.isp-helm.service", "isp", "applies only to blue-green apps, and isp-helm is helm"),
    ],
)
def test_helm_keys_belong_to_helm_apps_only(key: str, value: Any, problem: str) -> None:
    error = refusal(changed(key, value))
    assert (error.key, error.problem) == (key, problem)


def test_a_helm_app_takes_the_rolling_keys() -> None:
    config = parse_config(changed("apps.isp-helm.batch", 3))
    assert config.app("isp-helm").settings.batch_size == 3


def test_the_example_s_helm_app_loads_once_uncommented() -> None:
    # Given the example with its commented `isp-helm` app uncommented
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    start = lines.index("  # isp-helm:")
    block = []
    for line in lines[start:]:
        if not line.startswith("  # "):
            break
        block.append("  " + line.removeprefix("  # "))
    # uncommented where it stands, among the apps
    text = "\n".join([*lines[:start], *block, *lines[start + len(block) :]])

    # Then it is the helm app SPEC section 11 describes
    spec = parse_config(text).app("isp-helm")
    assert (spec.strategy, spec.release_name, spec.values_key) == (
        Strategy.HELM, "{slug}-isp", "image.tag")
    assert spec.chart.startswith("oci://")


@pytest.mark.parametrize(("window", "fragment"), [
    ({"days": ["sat"], "from": "02:00", "to": "02:00"}, "opens and closes at 02:00"),
    ({"days": ["someday"], "from": "02:00", "to": "05:00"}, "list of days like [sat, sun]"),
    ({"days": ["sat"], "from": "02:00", "to": "05:00", "tz": "Mars/Olympus"}, "time zone"),
    ({"days": ["sat"], "from": "2am", "to": "05:00"}, 'a time like "02:00"'),
])
def test_a_wrong_release_window_is_refused_naming_it(window: dict[str, Any],
                                                     fragment: str) -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["release"]["windows"] = [window]

    error = refusal(yaml.safe_dump(data))

    assert error.key.startswith("release.windows[0]")
    assert fragment in error.problem


def test_a_window_past_midnight_loads() -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["release"]["windows"] = [{"days": ["sat"], "from": "22:00", "to": "02:00",
                                   "tz": "Europe/Berlin"}]

    config = parse_config(yaml.safe_dump(data))

    window = config.app("isp").versions[2].windows[0]
    assert (window.days, window.tz, window.length.total_seconds()) == (
        frozenset({5}), "Europe/Berlin", 4 * 3600)
