"""rollbot's App Home tab: what is running now, what each viewer may do about it, and
what finished lately, as one Block Kit view for `views.publish`.

A Home tab is re-published whole whenever a rollout changes phase, for everyone who has
opened it, so it must fit Slack's view limits (100 blocks, 3000 characters a section)
whatever the fleet: a rollout says how many tenants are where, never which, and the
lists are capped with a line saying how many more there are. The buttons are the ones
the rollout's thread shows, with the same action IDs and values, so a click here goes
through the same checks and the same engine request as a click in the thread. Which of
them a viewer gets is decided by the caller (the policy needs the viewer's user groups);
this module only draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from handlers.render.blocks import (
    Block,
    actions,
    button,
    button_value,
    context,
    pack_lines,
    section,
)
from handlers.render.phrases import (
    PHASE_ICON,
    clock,
    counted,
    counts_line,
    progress_bar,
    rollout_ref,
    status_line,
    title,
    user_ref,
)
from handlers.render.release import RELEASE_ICON, release_status, release_title
from rollout.actions import Action
from rollout.machine.commands import GATE
from rollout.model import Phase, Rollout
from rollout.outcomes import outcomes
from rollout.release import Release, StepState

MAX_VIEW_BLOCKS = 100  # Slack's limit for a Home tab
MAX_SECTION_CHARS = 3000
ACTIVE_SHOWN = 20  # rollouts with their buttons; two blocks each
RELEASES_SHOWN = 5
RECENT_SHOWN = 10
HOME_BLOCK = "home-"  # block_id prefix of a rollout's buttons on the Home tab

_LABELS = {
    Action.APPROVE: ("Approve", "primary"),
    Action.PAUSE: ("Pause", None),
    Action.RESUME: ("Resume", "primary"),
    Action.CANCEL: ("Cancel", None),
}
HOME_ACTIONS = tuple(_LABELS)  # the buttons a Home tab may show, in the order shown


@dataclass(frozen=True)
class ActiveRollout:
    """A rollout that has not finished, and the buttons this viewer may click on it."""

    rollout: Rollout
    buttons: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Finished:
    """A rollout or release that ended, and the link to its thread (None: not posted)."""

    item: Rollout | Release
    link: str | None = None

    @property
    def ended(self) -> datetime:
        item = self.item
        return item.finished_at or item.created_at


def home_view(
    *,
    active: Sequence[ActiveRollout],
    releases: Sequence[Release] = (),
    recent: Sequence[Finished] = (),
    at: datetime,
) -> dict[str, object]:
    """The Home tab: `active` rollouts (newest first) with their buttons, running
    `releases`, and the last finished rollouts and releases in `recent`."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "rollbot", "emoji": True}},
        section(_now_line(len(active), len(releases))),
    ]
    blocks += _active_blocks(active)
    blocks += _release_blocks(releases)
    blocks.append({"type": "divider"})
    blocks += _recent_blocks(recent)
    blocks.append(context(
        f"As of {clock(at)} · drawn again when a rollout changes phase or a release step "
        "starts or ends"))
    assert len(blocks) <= MAX_VIEW_BLOCKS, len(blocks)
    return {"type": "home", "blocks": blocks}


def home_text(view: dict[str, object]) -> str:
    """The view's words, for the log and for a plain fallback."""
    blocks = view.get("blocks")
    lines = [str(b["text"]["text"]) for b in blocks if "text" in b] if isinstance(
        blocks, list) else []
    return "\n".join(lines)


def error_view(reason: str, *, at: datetime) -> dict[str, object]:
    """What a viewer sees when the Home tab could not be drawn."""
    return {"type": "home", "blocks": [
        section(_clip(f"⚠️ rollbot could not show its rollouts: {reason}")),
        context(f"As of {clock(at)} · open the tab again to retry"),
    ]}  # fmt: skip


def _now_line(rollouts: int, releases: int) -> str:
    if not rollouts and not releases:
        return "*Nothing is rolling out.* `/deploy <app> <version>` starts a rollout."
    parts = [counted(rollouts, "rollout")]
    if releases:
        parts.append(counted(releases, "release"))
    return f"*Running now:* {' · '.join(parts)}"


def _active_blocks(active: Sequence[ActiveRollout]) -> list[Block]:
    blocks: list[Block] = []
    for row in active[:ACTIVE_SHOWN]:
        blocks.append(section(_clip(_rollout_text(row.rollout))))
        if row.buttons:
            blocks.append(actions(f"{HOME_BLOCK}{row.rollout.id}", _buttons(row)))
    hidden = len(active) - ACTIVE_SHOWN
    if hidden > 0:
        blocks.append(context(f"… and {counted(hidden, 'more rollout')}: `/deploy list` shows all"))
    return blocks


def _rollout_text(rollout: Rollout) -> str:
    counted = outcomes(rollout.targets)
    done, total = counted.updated, counted.total
    head = (
        f"{PHASE_ICON[rollout.phase]} *{title(rollout)}* · rollout {rollout_ref(rollout)} "
        f"by {user_ref(rollout.requested_by)}"
    )
    bar = f"`{progress_bar(done, total)}` {done}/{total}"
    return f"{head}\n*{status_line(rollout)}*\n{bar}\n{counts_line(rollout)}"


def _buttons(row: ActiveRollout) -> list[Block]:
    rollout = row.rollout
    shown: list[Block] = []
    for action in HOME_ACTIONS:
        if action not in row.buttons:
            continue
        label, style = _LABELS[action]
        # An approval names its gate, as the thread's request does, so a click on a
        # request already decided is told so.
        asks_gate = action is Action.APPROVE and rollout.phase is Phase.AWAITING_APPROVAL
        gate = GATE if asks_gate else None
        shown.append(button(label, action, button_value(rollout.id, gate), style=style))
    return shown


def _release_blocks(releases: Sequence[Release]) -> list[Block]:
    blocks = [section(_clip(_release_text(r))) for r in releases[:RELEASES_SHOWN]]
    hidden = len(releases) - RELEASES_SHOWN
    if hidden > 0:
        blocks.append(context(f"… and {counted(hidden, 'more release')}: `/release list`"))
    return blocks


def _release_text(release: Release) -> str:
    settled = sum(1 for s in release.steps if s.state.settled)
    failed = sum(1 for s in release.steps if s.state is StepState.FAILED)
    steps = f"{settled}/{len(release.steps)} steps done" + (f" · {failed} failed" if failed else "")
    by = user_ref(release.requested_by)
    head = f"{RELEASE_ICON[release.phase]} *{release_title(release)}* by {by}"
    return f"{head}\n*{release_status(release)}*\n{steps}"


def _recent_blocks(recent: Sequence[Finished]) -> list[Block]:
    if not recent:
        return [section("*Recently finished:* nothing yet.")]
    newest = sorted(recent, key=lambda f: f.ended, reverse=True)[:RECENT_SHOWN]
    lines = [_finished_line(f) for f in newest]
    texts = pack_lines(lines, max_sections=2)
    return [section("*Recently finished*"), *(section(t) for t in texts)]


def _finished_line(finished: Finished) -> str:
    item = finished.item
    when = f" at {clock(item.finished_at)}" if item.finished_at else ""
    if isinstance(item, Rollout):
        counted = outcomes(item.targets)
        name = f"{PHASE_ICON[item.phase]} *{title(item)}* · rollout {rollout_ref(item)}"
        outcome = (f"{item.phase.label.capitalize()}{when} · "
                   f"{counted.updated}/{counted.total} updated")
    else:
        name = f"{RELEASE_ICON[item.phase]} *{release_title(item)}*"
        outcome = f"{release_status(item)}{when}"
    link = f" · <{finished.link}|thread>" if finished.link else ""
    return f"{name} · {outcome}{link}"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_SECTION_CHARS else text[: MAX_SECTION_CHARS - 1] + "…"
