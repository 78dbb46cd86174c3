"""The app's `versions:` rules applied to one deploy (SPEC section 12), in one place.

Deploy, plan, dry run, Slack, the terminal and a release's deploys all come through
:func:`decide`: the bump from what runs now to the version asked for picks the rule, the
rule's settings lie over the app's own, the command's options over those; a downgrade,
and a bump that requires a window without `at=` in one, are refusals. Pure: `now` comes
in as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime

from rollout.model import AppSpec, Settings, VersionRule
from rollout.options import RolloutOptions
from rollout.plan import resolve_settings
from rollout.versions import Bump, Fleet, bump
from rollout.windows import Window, inside, next_opening

# Bookkeeping fields of Settings, not settings a rule sets.
_NOT_RULES = frozenset({"bump", "bump_from", "bump_changed", "window_required"})


@dataclass(frozen=True)
class VersionDecision:
    """`settings`: what the rollout runs with (its bump recorded in them); `problems`:
    why it may not start, empty when it may."""

    bump: Bump
    fleet: Fleet
    settings: Settings
    problems: tuple[str, ...] = ()


def decide(
    spec: AppSpec, version: str, options: RolloutOptions, fleet: Fleet, *, now: datetime
) -> VersionDecision:
    """The settings `version` rolls out with on `fleet`, and why it may not start."""
    found = bump(fleet.current, version)
    rule = spec.rule(found.value) if found.has_rule else None
    base = rule.settings if rule is not None else spec.settings
    settings = resolve_settings(base, options)
    changed = _changed(spec.settings, base, settings)
    window = rule is not None and rule.window_required
    settings = replace(
        settings,
        bump=found.value,
        bump_from=fleet.current or "",
        bump_changed=changed,
        window_required=window,
    )
    problems: list[str] = []
    if found is Bump.DOWNGRADE:
        problems.append(_downgrade(spec.name, version, fleet.current or ""))
    if rule is not None and rule.window_required:
        problems += _window(rule, found, options.at, now=now)
    return VersionDecision(found, fleet, settings, tuple(problems))


def _changed(own: Settings, ruled: Settings, final: Settings) -> tuple[str, ...]:
    """The keys the rule set to another value than the app's own, and the command left."""
    return tuple(
        f.name
        for f in fields(Settings)
        if f.name not in _NOT_RULES
        and getattr(ruled, f.name) != getattr(own, f.name)
        and getattr(final, f.name) == getattr(ruled, f.name)
    )


def _downgrade(app: str, version: str, current: str) -> str:
    return (
        f"{version} is lower than {current}, the highest version running: a downgrade is "
        "not deployed. "
        f"To go back to {version}, use /rollback {app} to={version}"
    )


def _window(
    rule: VersionRule, found: Bump, at: datetime | None, *, now: datetime
) -> list[str]:
    windows = rule.windows
    if at is not None and (not windows or inside(windows, at)):
        return []
    what = f"a {found.value} version"
    if not windows:
        return [f"{what} must be scheduled: add at=HH:MM or at=ISO-8601"]
    upcoming = next_opening(windows, now)
    assert upcoming is not None  # windows is not empty
    opens = opening_text(*upcoming)
    if at is None:
        return [f"{what} must be scheduled inside a release window with at=; "
                f"the next window opens {opens}"]
    return [f"at= gives {_utc(at)}, outside every release window, which {what} needs; "
            f"the next window opens {opens}"]


def opening_text(window: Window, opens: datetime) -> str:
    """`Sat 2026-12-05 02:00 Europe/Berlin (Sat 2026-12-05 01:00 UTC)`; once for UTC."""
    local = opens.astimezone(window.zone)
    text = f"{local:%a %Y-%m-%d %H:%M} {window.tz}"
    if window.tz != "UTC":
        text += f" ({_utc(opens)})"
    return text


def _utc(at: datetime) -> str:
    return f"{at.astimezone(UTC):%a %Y-%m-%d %H:%M} UTC"
