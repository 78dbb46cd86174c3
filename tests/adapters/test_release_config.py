"""The `release:` section and `apps.<app>.build` (SPEC section 9): defaults, accepted
forms, and a refusal naming the key for every mistake.

Given the shipped example with one release value changed, when it is parsed, then the
release settings and build specs come out, or a ConfigError names the key and the problem.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bot.config import parse_config
from rollout.release import BuildSpec, ReleaseSettings
from rollout.release.checks import GUIDE_CHECKS
from tests.adapters.test_config import MINIMAL_ROLLING, changed, example, refusal


def test_the_example_carries_the_spec_keys() -> None:
    config = parse_config(changed("release.repo", "/srv/dotmac/frontend"))
    assert config.release_settings() == ReleaseSettings(
        repo="/srv/dotmac/frontend", install="pnpm install --frozen-lockfile",
        shared_build='pnpm --filter "./shared/packages/**" build', order=("admin", "isp"),
        timeout_seconds=1800,
    )  # fmt: skip
    assert config.build_spec("admin") == BuildSpec(
        dockerfile="apps/platform-admin-app/Dockerfile", context=".",
        package_json="apps/platform-admin-app/package.json", args=(),
    )  # fmt: skip


def test_without_a_release_section_everything_has_a_default() -> None:
    config = parse_config(yaml.safe_dump(MINIMAL_ROLLING))
    assert config.release_settings() == ReleaseSettings(order=("isp",))
    assert config.build_spec("isp") == BuildSpec(
        dockerfile="apps/isp-ops-app/Dockerfile", package_json="apps/isp-ops-app/package.json"
    )


def test_order_comes_first_and_unnamed_apps_follow_in_file_order() -> None:
    config = parse_config(changed("release.order", ["isp"]))
    assert config.release_settings().order == ("isp", "admin")


def test_without_an_order_blue_green_apps_deploy_first() -> None:
    """Given isp listed before admin and no release.order, then admin deploys first, as the
    guide does it."""
    data = example()
    data["apps"] = {"isp": data["apps"]["isp"], "admin": data["apps"]["admin"]}
    del data["release"]["order"]
    assert parse_config(yaml.safe_dump(data)).release_settings().order == ("admin", "isp")


def test_the_checks_are_the_guides_unless_listed_and_an_empty_list_runs_none() -> None:
    assert parse_config(yaml.safe_dump(MINIMAL_ROLLING)).release_settings().checks == (
        GUIDE_CHECKS)
    listed = parse_config(changed("release.checks", ["make check", "pnpm --filter x lint"]))
    assert listed.release_settings().checks == ("make check", "pnpm --filter x lint")
    assert parse_config(changed("release.checks", [])).release_settings().checks == ()


def test_build_arguments_are_text() -> None:
    admin = example()["apps"]["admin"]
    text = changed("apps.admin.build", {**admin["build"], "args": {"BASE": "busybox:1", "N": 3}})
    assert parse_config(text).build_spec("admin").args == (("BASE", "busybox:1"), ("N", "3"))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("release.repo", None, "release.repo: must be the path of the pnpm workspace root"),
        ("release.install", "", "release.install: must be a command"),
        ("release.shared_build", 3, "release.shared_build: must be a command"),
        ("release.order", ["admin", "nope"], "release.order: names 'nope', which is not an app"),
        ("release.order", ["isp", "isp"], "release.order: lists 'isp' twice"),
        ("release.order", "isp", "release.order: must be a list of app names"),
        ("release.timeout", "0s", "release.timeout: must be longer than 0s"),
        ("release.checks", "pnpm test", "release.checks: must be a list of commands"),
        ("release.checks", ["pnpm test", " "], "release.checks: must be a command"),
        ("release.timeout", "soon", "release.timeout:"),
        ("release.repository", "/x", "release.repository: is not a known key; known keys: repo,"),
        ("apps.admin.build.dockerfile", "/etc/Dockerfile", "apps.admin.build.dockerfile: must be "
         "a path relative to release.repo"),
        ("apps.admin.build.context", "../elsewhere", "apps.admin.build.context: must be a path "
         "relative to release.repo, without '..'"),
        ("apps.admin.build.args", {"VERSION": "x"}, "apps.admin.build.args: sets VERSION"),
        ("apps.admin.build.args", {"bad name": "x"}, "apps.admin.build.args: names 'bad name'"),
        ("apps.admin.build.args", ["A"], "apps.admin.build.args: must be a mapping"),
        ("apps.admin.build.docker_file", "x", "apps.admin.build.docker_file: is not a known "
         "key; did you mean dockerfile?"),
    ],
)
def test_a_wrong_release_value_names_its_key(key: str, value: Any, message: str) -> None:
    assert message in str(refusal(changed(key, value)))
