"""What people did to a rollout, in the words every face uses: the line in the thread
(`<@U0BOB> approved #42.`), the edit that settles a clicked approval or choice message,
and the private word to the person who clicked.

Each is chosen by the request's :class:`rollout.actions.Action`, never by re-reading a
sentence. A terminal's person is only claimed, so a request typed at a terminal names
its OS account beside them: that account is what the machine vouches for.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from handlers.render.blocks import context, section
from handlers.render.phrases import PHASE_ICON, Message, clock, rollout_ref, user_ref
from handlers.render.replies import accepted
from rollout.actions import Action
from rollout.model import OsAccount, Phase, Rollout, from_terminal

# What a settled message says was done, and the clicker's acknowledgement.
DONE: Mapping[Action, str] = {
    Action.APPROVE: "✅ Approved",
    Action.REJECT: "🛑 Rejected",
    Action.ROLLBACK: "↩️ Roll back chosen",
    Action.RETRY: "🔁 Retry chosen",
    Action.SKIP: "⏭️ Skip chosen",
    Action.REMOVE_OLD: "🧹 Removal of the old deployment requested",
    Action.PAUSE: "⏸️ Pause requested",
    Action.RESUME: "▶️ Resume requested",
    Action.CANCEL: "🚫 Cancel requested",
}

# The thread's line about who acted: `<@U0BOB> {verb} #42.`
_DID: Mapping[Action, str] = {
    Action.APPROVE: "approved",
    Action.REJECT: "rejected",
    Action.PAUSE: "paused",
    Action.RESUME: "resumed",
    Action.RETRY: "chose Retry failed for",
    Action.SKIP: "chose Skip and continue for",
    Action.ROLLBACK: "started a roll back of",
    Action.CANCEL: "cancelled",
    Action.REMOVE_OLD: "asked to remove the old side of",
}


def person_event(
    rollout: Rollout, *, user: str, action: Action, os_account: OsAccount | None = None
) -> Message:
    """Who acted on the rollout: `<@U0BOB> approved #42.`, or from a terminal
    `<@U0BOB> approved #42 (from a terminal: ops@build-7).`."""
    text = f"{user_ref(user)} {_DID[action]} {rollout_ref(rollout)}{from_terminal(os_account)}."
    return Message(text=text, blocks=(context(text),))


def decided(
    message_text: str,
    *,
    user: str,
    action: Action,
    at: datetime,
    os_account: OsAccount | None = None,
) -> Message:
    """An approval or choice message after someone acted: who (and, from a terminal, at
    which OS account), what, when; no buttons."""
    first = message_text.split("\n", 1)[0]
    line = f"{DONE[action]} by {user_ref(user)}{from_terminal(os_account)} at {clock(at)}"
    return Message(text=f"{first}\n{line}", blocks=(section(first), context(line)))


def closed(message_text: str, *, phase: Phase, at: datetime) -> Message:
    """An approval or choice message nobody needs to answer any more, because the rollout
    ended (expired, cancelled, ...): its first line, how it ended and when; no buttons."""
    first = message_text.split("\n", 1)[0]
    line = f"{PHASE_ICON[phase]} {phase.label.capitalize()} at {clock(at)}"
    return Message(text=f"{first}\n{line}", blocks=(section(first), context(line)))


def request_taken(rollout: Rollout, action: Action) -> Message:
    """To the person whose click the engine took, when no message edit says it."""
    return accepted(f"{DONE[action]} for #{rollout.id}.")


def approval_counted(rollout: Rollout, *, count: int, needed: int) -> Message:
    """To an approver whose approval is recorded while more are needed."""
    return accepted(
        f"Your approval of #{rollout.id} is recorded ({count} of {needed}); "
        f"{needed - count} more needed."
    )
