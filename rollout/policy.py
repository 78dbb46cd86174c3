"""Who may do what to which rollout, with the reason in words the person will read.

Every answer is a :class:`Decision`, allowed or not, so the Slack edge and the terminal
can show the same explanation and write it to the audit log either way. `groups` are the
user-group IDs (`S...`) the person belongs to; resolving them is an adapter's job.

Empty lists are open doors, on purpose: an app with no `deployers` may be deployed by
anyone who can reach the release channel, and an app with no `approvers` may be approved
by anyone (four-eyes still keeps the requester out). Operators restrict by listing people;
an empty list that silently locked everyone out would strand rollouts at their gates.

Pure: no I/O, stdlib and ``rollout.*`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rollout.errors import PermissionDenied
from rollout.model import AppSpec, Phase, Rollout

CONTROL_VERBS = frozenset({"pause", "resume", "cancel"})
_SHOWN = 5  # principals named in a refusal before "and N more"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    @classmethod
    def allow(cls, reason: str) -> Decision:
        return cls(allowed=True, reason=reason)

    @classmethod
    def deny(cls, reason: str) -> Decision:
        return cls(allowed=False, reason=reason)


def enforce(decision: Decision, *, user: str, action: str) -> None:
    """Raise PermissionDenied carrying the decision's reason when it refuses."""
    if not decision.allowed:
        raise PermissionDenied(user, action, decision.reason)


def may_deploy(app: AppSpec, user: str, groups: frozenset[str]) -> Decision:
    """Listed by user ID or through a group; an empty `deployers` lets everyone deploy."""
    if not app.deployers:
        return Decision.allow(f"{app.name} lists no deployers, so anyone may deploy it")
    if _listed(app.deployers, user, groups):
        return Decision.allow(f"you are a deployer of {app.name}")
    return Decision.deny(
        f"you are not a deployer of {app.name} (deployers: {_names(app.deployers)})"
    )


def may_approve(rollout: Rollout, app: AppSpec, user: str, groups: frozenset[str]) -> Decision:
    """Approve or reject the gate a rollout is waiting at.

    Refusals, in the order a person would want to hear them: the rollout is not waiting
    for approval; this person already approved it; they are not an approver; four-eyes
    keeps the requester from approving their own rollout.
    """
    ref = f"#{rollout.id}"
    if rollout.phase is not Phase.AWAITING_APPROVAL:
        if rollout.phase.terminal:
            return Decision.deny(_finished(rollout, "approve"))
        return Decision.deny(f"{ref} is not waiting for approval (it is {rollout.phase.label})")
    if any(a.user == user and a.decision == "approve" for a in rollout.approvals):
        return Decision.deny(f"you already approved {ref}")
    if app.approvers and not _listed(app.approvers, user, groups):
        return Decision.deny(
            f"you are not an approver of {app.name} (approvers: {_names(app.approvers)})"
        )
    if rollout.settings.four_eyes and user == rollout.requested_by:
        return Decision.deny(f"four-eyes: the requester of {ref} cannot approve it")
    return Decision.allow(f"you may approve {ref}")


def may_rollback(
    rollout: Rollout | None, app: AppSpec, user: str, groups: frozenset[str]
) -> Decision:
    """Deployers and approvers may roll back: a rollout by ID, or the app (`rollout` None)."""
    if rollout is not None:
        refusal = _nothing_to_roll_back(rollout)
        if refusal:
            return Decision.deny(refusal)
    if may_deploy(app, user, groups).allowed or _listed(app.approvers, user, groups):
        what = f"#{rollout.id}" if rollout is not None else app.name
        return Decision.allow(f"you may roll back {what}")
    return Decision.deny(
        f"you may not roll back {app.name}: only its deployers and approvers may "
        f"({_names(app.deployers + app.approvers)})"
    )


def may_control(
    rollout: Rollout, app: AppSpec, user: str, groups: frozenset[str], verb: str
) -> Decision:
    """Pause, resume or cancel: the requester, deployers and approvers, while it runs."""
    if verb not in CONTROL_VERBS:
        raise ValueError(f"unknown control verb {verb!r}")
    if rollout.phase.terminal:
        return Decision.deny(_finished(rollout, verb))
    ref = f"#{rollout.id}"
    if user == rollout.requested_by:
        return Decision.allow(f"you requested {ref}")
    if may_deploy(app, user, groups).allowed or _listed(app.approvers, user, groups):
        return Decision.allow(f"you may {verb} {ref}")
    return Decision.deny(
        f"you may not {verb} {ref}: only its requester (@{rollout.requested_by}) and the "
        f"deployers and approvers of {app.name} may ({_names(app.deployers + app.approvers)})"
    )


def channel_allowed(release_channels: Sequence[str], channel: str) -> Decision:
    """Commands are taken only in the release channels; none configured means anywhere."""
    if not release_channels:
        return Decision.allow("commands are accepted in every channel")
    if channel in release_channels:
        return Decision.allow("this is a release channel")
    shown = ", ".join(f"#{c}" for c in release_channels[:_SHOWN])
    more = len(release_channels) - _SHOWN
    if more > 0:
        shown += f" and {more} more"
    return Decision.deny(f"rollbot takes commands only in its release channels: {shown}")


def approvals_complete(rollout: Rollout, gate: int, required: int) -> bool:
    """True when `required` different people approved the gate before batch `gate`."""
    approvers = {a.user for a in rollout.approvals if a.gate == gate and a.decision == "approve"}
    return len(approvers) >= required


def _listed(entries: Sequence[str], user: str, groups: frozenset[str]) -> bool:
    return user in entries or not groups.isdisjoint(entries)


def _names(entries: Sequence[str]) -> str:
    unique = list(dict.fromkeys(entries))
    if not unique:
        return "none listed"
    shown = ", ".join(f"@{e}" for e in unique[:_SHOWN])
    more = len(unique) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _finished(rollout: Rollout, verb: str) -> str:
    return f"#{rollout.id} is finished ({rollout.phase.label}); there is nothing to {verb}"


def _nothing_to_roll_back(rollout: Rollout) -> str:
    ref = f"#{rollout.id}"
    if rollout.phase is Phase.ROLLING_BACK:
        return f"{ref} is already rolling back"
    if rollout.phase in {Phase.SCHEDULED, Phase.PREFLIGHT}:
        return f"{ref} has not changed anything yet; cancel it instead"
    # Blue-green progress lives in `blue_green`, not in targets; the engine judges that.
    if rollout.blue_green is None and not any(t.status.changed for t in rollout.targets):
        if rollout.phase is Phase.ROLLED_BACK:
            return f"{ref} is already rolled back"
        return f"{ref} changed no tenant; there is nothing to roll back"
    return ""
