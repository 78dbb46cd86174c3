"""How a rollout's version bump reads (SPEC 12): which bump was found against what runs,
what the app's `versions:` rule changed, and the tenants that run another version.

The plan, the parent message and the terminal's deploy header all say it with these."""

from __future__ import annotations

from collections.abc import Sequence

from handlers.render.phrases import counted
from rollout.model import Settings
from rollout.options import format_duration
from rollout.plan import Plan

MAX_NAMES = 10  # tenants named per version; the rest are counted
MAX_VERSIONS = 10  # versions listed; the rest are counted
MAX_PROBLEMS = 20  # a fleet-wide problem would otherwise list every tenant


def bump_line(settings: Settings, version: str) -> str | None:
    """`minor v1.2.3 → v1.3.0: 2 pilots, approval`; None when no bump was looked for."""
    if not settings.bump:
        return None
    if settings.bump == "unknown":
        running = f"{settings.bump_from} runs now" if settings.bump_from else "nothing known runs"
        return f"version bump unknown ({running}, no semantic version): no versions: rule applies"
    line = f"{settings.bump} {settings.bump_from} → {version}"
    names = settings.bump_changed
    if "batch_percent" in names:  # a share of the fleet sets the size: say the share alone
        names = tuple(name for name in names if name != "batch_size")
    changed = [_setting(name, settings) for name in names]
    if settings.window_required:
        changed.append("release window")
    return f"{line}: {', '.join(changed)}" if changed else line


def _setting(name: str, s: Settings) -> str:
    """One setting a rule changed, as it now is."""
    if name == "pilot_count":
        return "no pilots" if s.pilot_count == 0 else counted(s.pilot_count, "pilot")
    if name == "approval":
        return "approval" if s.approval else "no approval"
    if name == "approvals_required":
        return counted(s.approvals_required, "approval")
    if name == "batch_percent" and s.batch_percent == 100:
        return "all tenants in one batch"
    if name == "batch_percent":
        return f"batches of {s.batch_percent}%" if s.batch_percent else f"batches of {s.batch_size}"
    if name == "batch_size":
        return f"batches of {s.batch_size}"
    seconds = getattr(s, name)
    if name.endswith("_seconds") and isinstance(seconds, int):
        return f"{name.removesuffix('_seconds').replace('_', ' ')} {format_duration(seconds)}"
    return f"{name.replace('_', ' ')} {_value(seconds)}"


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def other_versions(others: Sequence[tuple[str, Sequence[str]]], *, highest: str) -> list[str]:
    """The tenants running another version than `highest`, grouped by version, capped."""
    if not others:
        return []
    count = sum(len(names) for _, names in others)
    lines = [f"{counted(count, 'tenant')} run another version than {highest}:"]
    for version, names in others[:MAX_VERSIONS]:
        shown = ", ".join(names[:MAX_NAMES])
        more = f" and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else ""
        lines.append(f"• {version or 'no tag'} ({len(names)}): {shown}{more}")
    if len(others) > MAX_VERSIONS:
        rest = others[MAX_VERSIONS:]
        lines.append(f"• {len(rest)} more versions on "
                     f"{counted(sum(len(n) for _, n in rest), 'tenant')}")
    return lines


def problem_lines(problems: Sequence[str]) -> list[str]:
    """Every reason the deploy would be refused, as a plan shows them."""
    if not problems:
        return []
    lines = ["⛔ *A deploy would be refused:*", *(f"• {p}" for p in problems[:MAX_PROBLEMS])]
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"• and {len(problems) - MAX_PROBLEMS} more problems")
    return lines


def checked_lines(plan: Plan) -> list[str]:
    """What a deploy's checked plan adds: tenants on other versions, then its problems."""
    fleet = plan.fleet
    lines = []
    if fleet is not None and fleet.current is not None:
        lines += other_versions(fleet.others, highest=fleet.current)
    return lines + problem_lines(plan.problems)
