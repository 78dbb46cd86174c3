"""`rollbot.yaml`, read and checked once at start-up (SPEC section 10).

A wrong file must stop start-up with a message naming the key and saying what is wrong,
so every value passes through a check in :mod:`bot.config.checks` that speaks in
sentences, and pydantic's own errors are reworded the same way (:mod:`bot.config.reading`,
which also reads the YAML). The result converts to the
frozen domain values the engine uses (:class:`rollout.model.AppSpec`, ``Settings``,
``HealthSpec``); anything not set takes the domain's own default, so there is one
source of defaults. Without a file, the built-in default (``bot/default_config.yaml``, the
same text as ``rollbot.example.yaml``) lets ``rollbot demo`` run with nothing configured.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError

from bot.config import checks, reading
from bot.config.reading import ConfigProblems
from bot.config.release import BuildConfig, ReleaseConfig
from bot.config.versions import WINDOW_KEYS, VersionRuleConfig, VersionsConfig
from rollout.errors import ConfigError
from rollout.model import AppSpec, HealthSpec, Settings, Strategy, VersionRule
from rollout.options import BatchSpec
from rollout.release import BuildSpec, ReleaseSettings
from rollout.windows import Window

__all__ = [
    "AppConfig",
    "BuildConfig",
    "Config",
    "ConfigProblems",
    "HealthConfig",
    "PrometheusConfig",
    "RegistryConfig",
    "ReleaseConfig",
    "SlackConfig",
    "default_config_text",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG = "./rollbot.yaml"
BUILTIN = "built-in defaults"
_DEFAULTS = Settings()
_HEALTH = HealthSpec()

Duration = Annotated[int, BeforeValidator(checks.duration)]
LongerThanZero = Annotated[int, BeforeValidator(checks.positive_duration)]
Channel = Annotated[str, BeforeValidator(checks.channel)]
Principals = Annotated[tuple[str, ...], BeforeValidator(checks.principals)]
Name63 = Annotated[str, BeforeValidator(checks.short_name)]
Name253 = Annotated[str, BeforeValidator(checks.long_name)]
Namespaces = Annotated[tuple[str, ...], BeforeValidator(checks.namespaces)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SlackConfig(_Strict):
    release_channels: Annotated[tuple[str, ...], BeforeValidator(checks.channels)] = ()
    notify_channel: Channel | None = None


class RegistryConfig(_Strict):
    verify_images: bool = True
    insecure: bool = False


class PrometheusConfig(_Strict):
    """Error rates from Prometheus instead of the pods' logs (SPEC section 4)."""

    url: Annotated[str, BeforeValidator(checks.http_url)]
    error_rate_query: Annotated[str, BeforeValidator(checks.error_rate_query)]
    timeout: LongerThanZero = 10


class HealthConfig(_Strict):
    port: Annotated[int, BeforeValidator(checks.port)] = _HEALTH.port
    path: Annotated[str, BeforeValidator(checks.url_path)] = _HEALTH.path
    ready_path: Annotated[str, BeforeValidator(checks.url_path)] = _HEALTH.ready_path
    log_window: LongerThanZero = _HEALTH.log_window_seconds
    prometheus: PrometheusConfig | None = None


class KubernetesConfig(_Strict):
    """How hard rollbot may press the API server, and how many tenants it works on at
    once. The request limits suit a shared production API server; raise them for a
    dedicated one (see the README)."""

    max_in_flight: Annotated[int, BeforeValidator(checks.at_least_one)] = 32
    qps: Annotated[float, Field(ge=0)] = 100.0  # 0: no rate limit
    burst: Annotated[int, BeforeValidator(checks.at_least_one)] = 300
    parallel_tenants: Annotated[int, BeforeValidator(checks.at_least_one)] = 64


# Keys that mean something for one strategy only; setting one on the other is a mistake.
ROLLING_ONLY = frozenset(
    {"tenant_selector", "tenant_order", "batch", "wait", "pilot", "pilot_monitor", "waves"}
)
BLUE_GREEN_ONLY = frozenset(
    {"namespace", "service", "config_map", "monitor", "remove_old_after", "app_label"}
)
HELM_ONLY = frozenset({"chart", "release_name", "values_key", "helm"})
BLUE_GREEN_REQUIRED = {
    "namespace": "the namespace the app runs in",
    "service": "the Service whose selector is switched",
    "config_map": "the ConfigMap name prefix",
}


class AppConfig(_Strict):
    strategy: Literal["rolling", "blue-green", "helm"]
    # required, except by helm apps (their chart says which image; without `image`
    # preflight does not look the tag up in the registry)
    image: Annotated[str, BeforeValidator(checks.repository)] = ""
    deployment: Name253
    container: Name63 = ""
    deployers: Principals = ()
    approvers: Principals = ()
    # rolling
    tenant_selector: Annotated[str, BeforeValidator(checks.selector)] = (
        "app.kubernetes.io/component=tenant"
    )
    tenant_order: Namespaces = ()
    batch: Annotated[BatchSpec, BeforeValidator(checks.batch)] = BatchSpec(
        size=_DEFAULTS.batch_size
    )
    waves: Literal["fixed", "double"] = "fixed"
    wait: Duration = _DEFAULTS.wait_seconds
    pilot: Annotated[int | tuple[str, ...], BeforeValidator(checks.pilot)] = _DEFAULTS.pilot_count
    pilot_monitor: Duration = _DEFAULTS.pilot_monitor_seconds
    # blue-green
    namespace: Name63 = ""
    service: Name63 = ""
    config_map: Name253 = ""
    app_label: Annotated[str, BeforeValidator(checks.label_value)] = ""
    monitor: Duration = _DEFAULTS.monitor_seconds
    remove_old_after: Annotated[int | None, BeforeValidator(checks.optional_duration)] = None
    # helm
    chart: Annotated[str, BeforeValidator(checks.non_empty)] = ""
    release_name: Annotated[str, BeforeValidator(checks.release_name)] = "{slug}-isp"
    values_key: Annotated[str, BeforeValidator(checks.values_key)] = "image.tag"
    helm: Annotated[str, BeforeValidator(checks.non_empty)] = "helm"
    # all
    rollout_timeout: LongerThanZero = _DEFAULTS.rollout_timeout_seconds
    crashloop_restarts: Annotated[int, BeforeValidator(checks.at_least_one)] = (
        _DEFAULTS.crashloop_restarts
    )
    approval: bool = _DEFAULTS.approval
    approvals_required: Annotated[int, BeforeValidator(checks.at_least_one)] = (
        _DEFAULTS.approvals_required
    )
    four_eyes: bool = _DEFAULTS.four_eyes
    terminal_auto_approve: bool = False
    approval_timeout: LongerThanZero = _DEFAULTS.approval_timeout_seconds
    auto_rollback: bool = _DEFAULTS.auto_rollback
    error_rate: Annotated[float, BeforeValidator(checks.share)] = _DEFAULTS.error_rate
    latency_factor: Annotated[float | None, BeforeValidator(checks.factor)] = (
        _DEFAULTS.latency_factor
    )
    build: BuildConfig = Field(default_factory=BuildConfig)  # how /release builds its image
    versions: VersionsConfig = Field(default_factory=VersionsConfig)  # SPEC 12, per bump

    def settings(self) -> Settings:
        pilots = self.pilot if isinstance(self.pilot, tuple) else ()
        count = self.pilot if isinstance(self.pilot, int) else len(pilots)
        return Settings(
            batch_size=self.batch.size or _DEFAULTS.batch_size,
            batch_percent=self.batch.percent,
            waves=self.waves,
            wait_seconds=self.wait,
            pilot_count=count,
            pilot_tenants=pilots,
            pilot_monitor_seconds=self.pilot_monitor,
            monitor_seconds=self.monitor,
            rollout_timeout_seconds=self.rollout_timeout,
            crashloop_restarts=self.crashloop_restarts,
            approval=self.approval,
            approvals_required=self.approvals_required,
            four_eyes=self.four_eyes,
            approval_timeout_seconds=self.approval_timeout,
            auto_rollback=self.auto_rollback,
            error_rate=self.error_rate,
            latency_factor=self.latency_factor,
            remove_old_after_seconds=self.remove_old_after,
        )

    def spec(self, name: str, *, windows: tuple[Window, ...] = ()) -> AppSpec:
        """`windows`: the release windows a bump with `window: required` must start in."""
        return AppSpec(
            name=name,
            strategy=Strategy(self.strategy),
            image=self.image,
            deployment=self.deployment,
            container=self.container,
            settings=self.settings(),
            deployers=self.deployers,
            approvers=self.approvers,
            tenant_selector=self.tenant_selector,
            tenant_order=self.tenant_order,
            namespace=self.namespace,
            service=self.service,
            config_map=self.config_map,
            app_label=self.app_label or self.deployment,
            terminal_auto_approve=self.terminal_auto_approve,
            chart=self.chart,
            release_name=self.release_name,
            values_key=self.values_key,
            versions=tuple(
                VersionRule(bump, self.model_copy(update=rule.overrides()).settings(),
                            window_required=rule.window == "required", windows=windows)
                for bump, rule in self.versions.rules().items()
            ),
        )


class Config(_Strict):
    slack: SlackConfig = Field(default_factory=SlackConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    apps: dict[str, AppConfig]
    health: HealthConfig = Field(default_factory=HealthConfig)
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    release: ReleaseConfig = Field(default_factory=ReleaseConfig)
    _source: str = PrivateAttr(default=BUILTIN)

    @property
    def source(self) -> str:
        """Where this configuration was read from: a path, or the built-in defaults."""
        return self._source

    def app(self, name: str) -> AppSpec:
        """The app as the engine sees it; KeyError when no such app is configured."""
        return self.apps[name].spec(name, windows=self._windows())

    def apps_specs(self) -> dict[str, AppSpec]:
        return {name: app.spec(name, windows=self._windows()) for name, app in self.apps.items()}

    def _windows(self) -> tuple[Window, ...]:
        return tuple(window.window() for window in self.release.windows)

    def release_settings(self) -> ReleaseSettings:
        blue_green = frozenset(n for n, a in self.apps.items() if a.strategy == "blue-green")
        return self.release.settings(list(self.apps), blue_green=blue_green)

    def build_spec(self, app: str) -> BuildSpec:
        """How `app`'s image is built; KeyError when no such app is configured."""
        return self.apps[app].build.spec(self.apps[app].deployment)

    def health_spec(self) -> HealthSpec:
        return HealthSpec(
            port=self.health.port,
            path=self.health.path,
            ready_path=self.health.ready_path,
            log_window_seconds=self.health.log_window,
        )


# --- loading --------------------------------------------------------------------------------


def load_config(path: str | Path | None = None) -> Config:
    """Read `path`, else ``ROLLBOT_CONFIG``, else ``./rollbot.yaml``, else the built-in default.

    A path given here or in ``ROLLBOT_CONFIG`` must exist; only the implicit
    ``./rollbot.yaml`` may be absent."""
    if path is None:
        path = os.environ.get("ROLLBOT_CONFIG") or None
    if path is None:
        if not Path(DEFAULT_CONFIG).exists():
            return parse_config(default_config_text(), source=BUILTIN)
        path = DEFAULT_CONFIG
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(source, "is not UTF-8 text") from None
    except OSError as err:
        raise ConfigError(source, f"cannot be read: {err.strerror or err}") from None
    return parse_config(text, source=source)


def default_config_text() -> str:
    """The configuration shipped inside the package (same text as rollbot.example.yaml)."""
    return resources.files("bot").joinpath("default_config.yaml").read_text(encoding="utf-8")


def parse_config(text: str, *, source: str = "rollbot.yaml") -> Config:
    """YAML text -> a checked Config, or a ConfigError naming the first wrong key."""
    data = reading.load_yaml(text, source=source)
    try:
        config = Config.model_validate(data)
    except ValidationError as err:
        raise reading.reworded(err, known_keys=_known_keys) from None
    if not config.apps:
        raise ConfigError("apps", "is empty; configure at least one app")
    for name, app in config.apps.items():
        _check_app(name, app)
        for bump, rule in app.versions.rules().items():
            _check_rule(f"apps.{name}.versions.{bump}", app, rule)
    for name in config.release.order:
        if name not in config.apps:
            raise ConfigError("release.order", f"names {name!r}, which is not an app; apps are "
                              f"{', '.join(config.apps)}")
    config._source = source
    return config


def _not_for(strategy: str) -> frozenset[str]:
    """The keys that mean nothing for apps of `strategy`."""
    if strategy == "blue-green":
        return ROLLING_ONLY | HELM_ONLY
    return BLUE_GREEN_ONLY | (HELM_ONLY if strategy == "rolling" else frozenset())


def _check_app(name: str, app: AppConfig) -> None:
    """What a single value cannot show: keys that need each other, or exclude each other."""
    checks.app_name(name)
    given = app.model_fields_set
    required = {} if app.strategy == "helm" else dict.fromkeys(("image", "container"), "")
    if app.strategy == "blue-green":
        required |= {k: f"for blue-green apps ({what})" for k, what in BLUE_GREEN_REQUIRED.items()}
    if app.strategy == "helm":
        required["chart"] = "for helm apps (a chart path or an oci:// reference)"
    for key, what in required.items():
        if key not in given:
            raise ConfigError(f"apps.{name}.{key}", f"is required {what}".strip())
    for key in sorted(given & _not_for(app.strategy)):
        # helm apps roll out like rolling ones, with the rolling keys
        owner = "rolling" if key in ROLLING_ONLY else (
            "blue-green" if key in BLUE_GREEN_ONLY else "helm")
        raise ConfigError(
            f"apps.{name}.{key}", f"applies only to {owner} apps, and {name} is {app.strategy}"
        )
    if app.approval and not app.approvers:
        raise ConfigError(
            f"apps.{name}.approvers",
            "is empty but approval is on, so nobody could approve; "
            "list approvers or set approval: false",
        )
    users = [who for who in app.approvers if not who.startswith("S")]
    if app.approval and len(users) == len(app.approvers) < app.approvals_required:
        raise ConfigError(
            f"apps.{name}.approvals_required",
            f"asks for {app.approvals_required} approvals but only {len(users)} "
            "approver(s) are listed",
        )


def _check_rule(where: str, app: AppConfig, rule: VersionRuleConfig) -> None:
    """A rule's keys as the app's own: for its strategy, and approvable once laid over."""
    for key in sorted(rule.model_fields_set & _not_for(app.strategy)):
        raise ConfigError(f"{where}.{key}", f"applies only to "
                          f"{'rolling' if key in ROLLING_ONLY else 'blue-green'} apps")
    ruled = app.model_copy(update=rule.overrides())
    users = [who for who in ruled.approvers if not who.startswith("S")]
    if ruled.approval and not ruled.approvers:
        raise ConfigError(f"{where}.approval", "is on but the app lists no approvers")
    if ruled.approval and len(users) == len(ruled.approvers) < ruled.approvals_required:
        raise ConfigError(f"{where}.approvals_required",
                          f"asks for {ruled.approvals_required} approvals but only "
                          f"{len(users)} approver(s) are listed")


_SECTIONS: dict[str, type[BaseModel]] = {
    "slack": SlackConfig,
    "registry": RegistryConfig,
    "health": HealthConfig,
    "kubernetes": KubernetesConfig,
    "release": ReleaseConfig,
}


def _known_keys(loc: tuple[str | int, ...]) -> list[str]:
    """Keys allowed in the mapping at `loc`, for "did you mean" hints."""
    if not loc:
        return list(Config.model_fields)
    if loc[0] == "apps" and len(loc) == 2:
        return list(AppConfig.model_fields)
    if loc[0] == "apps" and len(loc) == 3 and loc[2] == "build":
        return list(BuildConfig.model_fields)
    if loc[0] == "apps" and len(loc) == 3 and loc[2] == "versions":
        return list(VersionsConfig.model_fields)
    if loc[0] == "apps" and len(loc) == 4 and loc[2] == "versions":
        return list(VersionRuleConfig.model_fields)
    if loc[:2] == ("release", "windows") and len(loc) == 3:
        return WINDOW_KEYS
    if len(loc) == 1 and loc[0] in _SECTIONS:
        return list(_SECTIONS[str(loc[0])].model_fields)
    return []
