"""Version bumps (SPEC 12): semver ordering, the bump between two versions, the fleet's
current version, release windows, and the versions: rules applied to a deploy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time

import pytest

from handlers.render.versions import bump_line, other_versions, problem_lines
from rollout.model import AppSpec, Settings, Strategy, VersionRule
from rollout.options import RolloutOptions
from rollout.version_rules import decide
from rollout.versions import Bump, Fleet, bump, tag_of
from rollout.windows import Window, inside, next_opening

WEEKEND = Window(days=frozenset({5, 6}), start=time(2), end=time(5), tz="UTC")
NIGHT = Window(days=frozenset({5}), start=time(22), end=time(2), tz="Europe/Berlin")


@pytest.mark.parametrize(("current", "requested", "expected"), [
    ("v1.2.3", "v1.2.4", Bump.PATCH),
    ("v1.2.3", "v1.3.0", Bump.MINOR),
    ("v1.9.0", "v1.10.0", Bump.MINOR),  # numeric, not lexical
    ("v1.2.3", "v2.0.0", Bump.MAJOR),
    ("1.2.3", "v1.2.4", Bump.PATCH),  # the v is optional
    ("v1.2.3", "v1.3.0-rc.1", Bump.MINOR),  # a prerelease of a minor is rolled out as one
    ("v1.3.0-rc.1", "v1.3.0-rc.2", Bump.PRERELEASE),
    ("v1.3.0-rc.2", "v1.3.0-rc.10", Bump.PRERELEASE),  # numeric identifiers by value
    ("v1.3.0-rc.1", "v1.3.0", Bump.PRERELEASE),  # the release of its prerelease
    ("v1.3.0-alpha", "v1.3.0-alpha.1", Bump.PRERELEASE),  # more fields win a tie
    ("v1.3.0", "v1.3.0-rc.1", Bump.DOWNGRADE),
    ("v1.2.3", "v1.2.2", Bump.DOWNGRADE),
    ("v1.10.0", "v1.9.9", Bump.DOWNGRADE),
    ("v1.2.3", "v1.2.3", Bump.SAME),
    ("v1.2.3+build.1", "v1.2.3+build.2", Bump.SAME),  # build metadata is no order
    ("latest", "v1.2.3", Bump.UNKNOWN),
    ("sha-abc", "v1.2.3", Bump.UNKNOWN),
    (None, "v1.2.3", Bump.UNKNOWN),
])
def test_the_bump_between_two_versions(current: str | None, requested: str,
                                       expected: Bump) -> None:
    assert bump(current, requested) is expected


@pytest.mark.parametrize(("running", "current", "others"), [
    ({"a": "v1.2.3", "b": "v1.2.3"}, "v1.2.3", ()),
    ({"a": "v1.2.3", "b": "v1.10.0", "c": "v1.9.0"}, "v1.10.0",
     (("v1.2.3", ("a",)), ("v1.9.0", ("c",)))),
    ({"a": "latest", "b": "v1.2.3"}, "v1.2.3", (("latest", ("a",)),)),
    ({"a": "latest"}, None, (("latest", ("a",)),)),
    ({}, None, ()),
])
def test_a_mixed_fleet_runs_its_highest_version(
    running: dict[str, str], current: str | None, others: tuple[object, ...]
) -> None:
    fleet = Fleet.of(running)

    assert (fleet.current, fleet.others) == (current, others)


def test_the_tag_of_an_image() -> None:
    assert tag_of("registry:5000/dotmac/isp-ops-app:v1.2.3") == "v1.2.3"
    assert tag_of("registry:5000/dotmac/isp-ops-app") == ""
    assert tag_of("app@sha256:abc") == ""


@pytest.mark.parametrize(("at", "expected"), [
    (datetime(2026, 12, 5, 2, 0, tzinfo=UTC), True),  # Saturday, as it opens
    (datetime(2026, 12, 6, 4, 59, tzinfo=UTC), True),  # Sunday
    (datetime(2026, 12, 5, 5, 0, tzinfo=UTC), False),  # closed at 05:00
    (datetime(2026, 12, 7, 3, 0, tzinfo=UTC), False),  # Monday
    # Saturday 22:00 to 02:00 in Berlin (UTC+1 in December): Sunday 00:30 UTC is inside
    (datetime(2026, 12, 6, 0, 30, tzinfo=UTC), True),
    (datetime(2026, 12, 6, 1, 0, tzinfo=UTC), False),  # 02:00 Berlin: closed
])
def test_inside_a_window(at: datetime, expected: bool) -> None:
    assert inside([WEEKEND, NIGHT], at) is expected


def test_the_next_window_opens_in_its_own_time_zone() -> None:
    thursday = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)

    window, opens = next_opening([WEEKEND, NIGHT], thursday) or (None, None)

    assert (window, opens) == (WEEKEND, datetime(2026, 12, 5, 2, 0, tzinfo=UTC))
    window, opens = next_opening([NIGHT], thursday) or (None, None)
    assert opens == datetime(2026, 12, 5, 21, 0, tzinfo=UTC)  # 22:00 Berlin


OWN = Settings(pilot_count=2, approval=True)
ISP = AppSpec(
    name="isp", strategy=Strategy.ROLLING, image="r/isp", deployment="isp", container="c",
    settings=OWN,
    versions=(
        VersionRule("patch", Settings(pilot_count=1, approval=False)),
        VersionRule("minor", Settings(pilot_count=2, approval=True)),
        VersionRule("major", Settings(pilot_count=0, batch_percent=100, approvals_required=2),
                    window_required=True, windows=(WEEKEND,)),
    ),
)
NOW = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)  # a Thursday


def test_a_patch_takes_its_rule_and_says_what_changed() -> None:
    decision = decide(ISP, "v1.2.4", RolloutOptions(), Fleet.of({"a": "v1.2.3"}), now=NOW)

    s = decision.settings
    assert (s.pilot_count, s.approval, s.bump, s.bump_from) == (1, False, "patch", "v1.2.3")
    assert s.bump_changed == ("pilot_count", "approval")
    assert decision.problems == ()


def test_the_command_wins_over_the_rule_and_the_rule_does_not_claim_it() -> None:
    options = RolloutOptions(pilot_count=3)

    decision = decide(ISP, "v1.2.4", options, Fleet.of({"a": "v1.2.3"}), now=NOW)

    assert decision.settings.pilot_count == 3
    assert decision.settings.bump_changed == ("approval",)


def test_a_downgrade_is_refused_with_the_rollback_command() -> None:
    decision = decide(ISP, "v1.2.2", RolloutOptions(), Fleet.of({"a": "v1.2.3"}), now=NOW)

    assert decision.bump is Bump.DOWNGRADE
    assert "/rollback isp to=v1.2.2" in decision.problems[0]


def test_a_major_without_at_is_refused_naming_the_next_window() -> None:
    decision = decide(ISP, "v2.0.0", RolloutOptions(), Fleet.of({"a": "v1.2.3"}), now=NOW)

    assert decision.problems == (
        "a major version must be scheduled inside a release window with at=; "
        "the next window opens Sat 2026-12-05 02:00 UTC",
    )


def test_a_major_at_a_time_in_a_window_may_start() -> None:
    at = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)

    decision = decide(ISP, "v2.0.0", RolloutOptions(at=at), Fleet.of({"a": "v1.2.3"}), now=NOW)

    assert decision.problems == ()
    assert (decision.settings.batch_percent, decision.settings.approvals_required) == (100, 2)


def test_a_major_at_a_time_outside_every_window_is_refused() -> None:
    at = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)

    decision = decide(ISP, "v2.0.0", RolloutOptions(at=at), Fleet.of({"a": "v1.2.3"}), now=NOW)

    assert "outside every release window" in decision.problems[0]


def test_an_unknown_running_version_applies_no_rule() -> None:
    decision = decide(ISP, "v2.0.0", RolloutOptions(), Fleet.of({"a": "latest"}), now=NOW)

    assert decision.bump is Bump.UNKNOWN
    assert decision.problems == ()
    assert decision.settings.pilot_count == OWN.pilot_count


# --- how it reads ---------------------------------------------------------------------------


def test_the_bump_line_says_the_bump_and_what_its_rule_changed() -> None:
    s = Settings(pilot_count=2, approval=True, bump="minor", bump_from="v1.2.3",
                 bump_changed=("pilot_count", "approval"))

    assert bump_line(s, "v1.3.0") == "minor v1.2.3 → v1.3.0: 2 pilots, approval"
    assert bump_line(replace(s, bump_changed=()), "v1.3.0") == "minor v1.2.3 → v1.3.0"
    assert bump_line(Settings(), "v1.3.0") is None  # no bump looked for (a roll back)


def test_a_major_to_every_tenant_at_once_reads_as_one_batch_only() -> None:
    # Given the guide's major rule, `batch: 100%`, which also sets the batch size
    s = Settings(pilot_count=0, batch_size=5, batch_percent=100, approvals_required=2,
                 bump="major", bump_from="v1.2.3", window_required=True,
                 bump_changed=("batch_size", "batch_percent", "pilot_count",
                               "approvals_required"))

    # Then the line says one batch, not also "batches of 5"
    assert bump_line(s, "v2.0.0") == ("major v1.2.3 → v2.0.0: all tenants in one batch, "
                                      "no pilots, 2 approvals, release window")


def test_an_unknown_bump_says_no_rule_applies() -> None:
    s = Settings(bump="unknown", bump_from="latest")

    assert bump_line(s, "v1.3.0") == (
        "version bump unknown (latest runs now, no semantic version): no versions: rule applies"
    )


def test_ten_thousand_tenants_on_other_versions_take_a_few_lines() -> None:
    # Given 10,000 tenants on 15 versions other than the highest
    running = {f"tenant-{i:05}": f"v1.{i % 15}.0" for i in range(10_000)}
    running["tenant-top"] = "v9.0.0"
    fleet = Fleet.of(running)

    lines = other_versions(fleet.others, highest="v9.0.0")

    assert lines[0] == "10000 tenants run another version than v9.0.0:"
    assert len(lines) == 1 + 10 + 1  # ten versions, then the rest counted
    assert lines[1].startswith("• v1.0.0 (667): ") and lines[1].endswith(" and 657 more")
    assert lines[-1] == "• 5 more versions on 3330 tenants"  # v1.10.0 to v1.14.0


def test_problems_are_capped() -> None:
    lines = problem_lines([f"tenant-{i}: there is no deployment isp" for i in range(500)])

    assert len(lines) == 1 + 20 + 1
    assert lines[-1] == "• and 480 more problems"


def test_a_window_in_another_time_zone_is_named_in_it_and_in_utc() -> None:
    major = VersionRule("major", OWN, window_required=True, windows=(NIGHT,))
    spec = replace(ISP, versions=(major,))

    decision = decide(spec, "v2.0.0", RolloutOptions(), Fleet.of({"a": "v1.2.3"}), now=NOW)

    assert decision.problems[0].endswith(
        "the next window opens Sat 2026-12-05 22:00 Europe/Berlin (Sat 2026-12-05 21:00 UTC)"
    )
