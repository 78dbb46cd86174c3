"""The release's checks as commands: the guide's list, one check per app where a command
names {package}, and which package script a command runs, so that a check runs only where
some package defines its script (SPEC section 12, "Release checks").
"""

from __future__ import annotations

import pytest

from rollout.release import ReleaseSettings
from rollout.release.checks import GUIDE_CHECKS, ScriptRun, expand, script_run

SHARED = '"./shared/packages/**"'


def test_the_default_checks_are_the_guides_testing_requirements_in_its_order() -> None:
    """Given no release.checks, then the shared packages' test, type-check and lint run,
    then both apps' build, then both apps' end-to-end tests, as the guide lists them."""
    assert expand(ReleaseSettings().checks, ["@dotmac/platform-admin-app", "isp-ops-app"]) == (
        f"pnpm --filter {SHARED} test",
        f"pnpm --filter {SHARED} type-check",
        f"pnpm --filter {SHARED} lint",
        "pnpm --filter @dotmac/platform-admin-app build",
        "pnpm --filter isp-ops-app build",
        "pnpm --filter @dotmac/platform-admin-app test:e2e",
        "pnpm --filter isp-ops-app test:e2e",
    )
    assert ReleaseSettings().checks == GUIDE_CHECKS


def test_a_package_name_is_quoted_for_the_shell() -> None:
    assert expand(["pnpm --filter {package} lint"], ["my app"]) == (
        "pnpm --filter 'my app' lint",)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (f"pnpm --filter {SHARED} type-check", ScriptRun("./shared/packages/**", "type-check")),
        ("pnpm --filter=@dotmac/* run lint --fix", ScriptRun("@dotmac/*", "lint")),
        ("pnpm -F isp-ops-app test:e2e", ScriptRun("isp-ops-app", "test:e2e")),
        # Not one script in one set of packages: run as written, whatever is defined.
        ("pnpm --filter isp-ops-app exec playwright test", None),
        ("pnpm -r test", None),
        ("pnpm --filter ...@dotmac/ui test", None),
        ("pnpm --filter a --filter b test", None),
        ("pnpm --filter a test && echo done", None),
        ("npm test", None),
        ("pnpm --filter 'unclosed test", None),
        ("make check", None),
    ],
)
def test_a_check_says_which_script_it_runs_when_it_runs_one(
    command: str, expected: ScriptRun | None
) -> None:
    assert script_run(command) == expected
