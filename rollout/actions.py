"""What a person can ask of a rollout, as values every face and the engine share.

A click in Slack, `rollbot approve` in a terminal, a request waiting in the journal's
inbox and the event that reports it afterwards all name the request by an
:class:`Action`, never by a word to be compared or parsed again. Only this module spells
the journal's names (`approve`, `remove-old`, ...) and Slack's button IDs
(`rollbot_approve`, ...); both are on the wire or on disk already, so they never change.
"""

from __future__ import annotations

from enum import StrEnum

BUTTON_PREFIX = "rollbot_"


class Action(StrEnum):
    """A person's request; the value is how the journal's inbox and audit log spell it."""

    APPROVE = "approve"
    REJECT = "reject"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    ROLLBACK = "rollback"
    RETRY = "retry"
    SKIP = "skip"
    REMOVE_OLD = "remove-old"
    STOP_RELEASE = "stop-release"  # a release's Stop: the running step ends, nothing follows

    @property
    def button_id(self) -> str:
        """The `action_id` of the Slack button that asks for it: `rollbot_remove_old`."""
        return BUTTON_PREFIX + self.name.lower()

    @classmethod
    def from_button(cls, action_id: str) -> Action | None:
        """The action a button asks for; None for an action_id that is not rollbot's."""
        return _BY_BUTTON.get(action_id)


# The decisions of an approval gate, and the choices a failure pause offers.
DECISIONS = frozenset({Action.APPROVE, Action.REJECT})
CHOICES = frozenset({Action.ROLLBACK, Action.RETRY, Action.SKIP})
# What `/deploy pause|resume|cancel <ID>` and the parent message's buttons ask for.
CONTROLS: tuple[Action, ...] = (Action.PAUSE, Action.RESUME, Action.CANCEL)
# What a release's own buttons ask for; every other action is asked of a rollout.
RELEASE_ACTIONS = frozenset({Action.STOP_RELEASE})

_BY_BUTTON = {action.button_id: action for action in Action}
