"""Who may do what to which rollout or release, with the reason in words the person will read.

Every answer is a :class:`Decision`, allowed or not, so the Slack edge and the terminal
can show the same explanation and write it to the audit log either way. `groups` are the
user-group IDs (`S...`) the person belongs to; resolving them is an adapter's job.

A terminal's person is only claimed (`--as`), so a request typed at a terminal also
carries its OS account (:class:`rollout.model.OsAccount`), and four-eyes holds against
that account as well as against the person named.

Empty lists are open doors, on purpose: an app with no `deployers` may be deployed by
anyone who can reach the release channel, and an app with no `approvers` may be approved
by anyone (four-eyes still keeps the requester out). Operators restrict by listing people;
an empty list that silently locked everyone out would strand rollouts at their gates.

Pure: no I/O, stdlib and ``rollout.*`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rollout.actions import CONTROLS, Action
from rollout.errors import PermissionDenied
from rollout.model import AppSpec, OsAccount, Phase, Rollout
from rollout.release.model import Release

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


Check = Callable[[frozenset[str]], Decision]  # a rule, given the person's user groups


def group_ids(entries: Sequence[str]) -> list[str]:
    """User-group IDs (`S...`) among permission entries, each once, in order."""
    return list(dict.fromkeys(e for e in entries if e.startswith("S")))


def groups_worth_asking(check: Check, entries: Sequence[str]) -> list[str]:
    """The user groups among `entries` worth asking Slack about: none when `check` lets
    the person in on their own, or refuses them even as a member of every group named,
    since then no answer could change the decision."""
    named = group_ids(entries)
    if not named or check(frozenset()).allowed or not check(frozenset(named)).allowed:
        return []
    return named


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


def may_approve(
    rollout: Rollout,
    app: AppSpec,
    user: str,
    groups: frozenset[str],
    *,
    os_account: OsAccount | None = None,
) -> Decision:
    """Approve or reject the gate a rollout is waiting at. `os_account`: where a terminal
    request was typed (None from Slack).

    Refusals, in the order a person would want to hear them: the rollout is not waiting
    for approval; this person (or this terminal account) already approved it; they are
    not an approver; four-eyes keeps the requester from approving their own rollout.
    """
    ref = f"#{rollout.id}"
    if rollout.phase is not Phase.AWAITING_APPROVAL:
        if rollout.phase.terminal:
            return Decision.deny(_finished(rollout, Action.APPROVE))
        return Decision.deny(f"{ref} is not waiting for approval (it is {rollout.phase.label})")
    already = _already_approved(rollout, user, os_account)
    if already:
        return Decision.deny(already)
    if app.approvers and not _listed(app.approvers, user, groups):
        return Decision.deny(
            f"you are not an approver of {app.name} (approvers: {_names(app.approvers)})"
        )
    own = _four_eyes(rollout, user, os_account)
    if own:
        return Decision.deny(own)
    return Decision.allow(f"you may approve {ref}")


def approval_refusal(rollout: Rollout, user: str, os_account: OsAccount | None) -> str:
    """What the rollout's own record says against this approval ("" when nothing): one
    approval per person and per terminal account, and four-eyes. The state machine asks
    this, so a request that got past an edge still meets the same rule."""
    return _already_approved(rollout, user, os_account) or _four_eyes(rollout, user, os_account)


def may_auto_approve(app: AppSpec, user: str, groups: frozenset[str]) -> Decision:
    """`--auto-approve`: the requester approving their own rollout before it starts.

    It counts as the requester's click at the gate would, so four-eyes refuses it, and so
    do `approvals_required` above 1 (one person is one approval) and an approvers list
    without them; an app that sets `terminal_auto_approve` (CI, benchmarks) allows it.
    """
    s = app.settings
    if not s.approval:
        return Decision.allow(f"{app.name} has no approval gate")
    if app.terminal_auto_approve:
        return Decision.allow(f"{app.name} sets terminal_auto_approve")
    if s.four_eyes:
        return Decision.deny(
            f"four-eyes is on for {app.name}, so the requester cannot approve their own "
            "rollout, and --auto-approve is the requester's own approval"
        )
    if s.approvals_required > 1:
        return Decision.deny(
            f"{app.name} needs {s.approvals_required} approvals from different people, and "
            "--auto-approve is only the requester's own"
        )
    if app.approvers and not _listed(app.approvers, user, groups):
        return Decision.deny(
            f"--auto-approve is your own approval, and you are not an approver of {app.name} "
            f"(approvers: {_names(app.approvers)})"
        )
    return Decision.allow(f"you may approve your own rollouts of {app.name}")


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
    rollout: Rollout, app: AppSpec, user: str, groups: frozenset[str], verb: Action
) -> Decision:
    """Pause, resume or cancel: the requester, deployers and approvers, while it runs."""
    if verb not in CONTROLS:
        raise ValueError(f"unknown control verb {str(verb)!r}")
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


def may_release(
    apps: Sequence[AppSpec], user: str, groups: frozenset[str], *, skip_checks: bool = False
) -> Decision:
    """`/release`: a deployer of every app in it, since it builds and deploys each; with
    `skip_checks`, also an approver of every app (:func:`may_skip_checks`)."""
    refused = [d.reason for d in (may_deploy(app, user, groups) for app in apps) if not d.allowed]
    if skip_checks:
        skipping = may_skip_checks(apps, user, groups)
        refused += [] if skipping.allowed else [skipping.reason]
    if refused:
        return Decision.deny("; ".join(refused))
    return Decision.allow("you may deploy every app in the release")


def may_skip_checks(apps: Sequence[AppSpec], user: str, groups: frozenset[str]) -> Decision:
    """`skip-checks`: the release's checks are the gate before anything is built, so only
    someone who may approve every app in it may leave them out (an app with no approvers
    is open to everyone, as its approval gate is)."""
    outside = [a for a in apps if a.approvers and not _listed(a.approvers, user, groups)]
    if not outside:
        return Decision.allow("you may approve every app in the release")
    entries = [e for a in outside for e in a.approvers]
    return Decision.deny(
        f"skip-checks is only for approvers of every app in the release, and you are not an "
        f"approver of {', '.join(a.name for a in outside)} (approvers: {_names(entries)})"
    )


def may_stop_release(
    release: Release, apps: Sequence[AppSpec], user: str, groups: frozenset[str]
) -> Decision:
    """A release's Stop or cancel: its requester, or whoever may control each of its
    deploys (a deployer or an approver of every app in it), while it runs."""
    if release.phase.terminal:
        return Decision.deny(
            f"{release.label} has already ended ({release.phase}); there is nothing to stop"
        )
    if user == release.requested_by:
        return Decision.allow(f"you requested {release.label}")
    outside = [a for a in apps
               if not (may_deploy(a, user, groups).allowed or _listed(a.approvers, user, groups))]
    if not outside:
        return Decision.allow(f"you may stop {release.label}")
    entries = [e for a in outside for e in (*a.deployers, *a.approvers)]
    return Decision.deny(
        f"you may not stop {release.label}: only its requester (@{release.requested_by}) and "
        f"the deployers and approvers of {', '.join(a.name for a in outside)} may "
        f"({_names(entries)})"
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
    approvers = {
        a.user for a in rollout.approvals if a.gate == gate and a.decision == Action.APPROVE
    }
    return len(approvers) >= required


def _already_approved(rollout: Rollout, user: str, os_account: OsAccount | None) -> str:
    ref = f"#{rollout.id}"
    approvals = [a for a in rollout.approvals if a.decision == Action.APPROVE]
    if any(a.user == user for a in approvals):
        return f"you already approved {ref}"
    for a in approvals:
        if _same_os_user(a.os_account, os_account):
            assert a.os_account is not None
            return (
                f"OS user {a.os_account.user} already approved {ref} (as {a.user}, from "
                f"{a.os_account}); one account counts as one approver, whatever --as says"
            )
    return ""


def _four_eyes(rollout: Rollout, user: str, os_account: OsAccount | None) -> str:
    if not rollout.settings.four_eyes:
        return ""
    ref = f"#{rollout.id}"
    if user == rollout.requested_by:
        return f"four-eyes: the requester of {ref} cannot approve it"
    started = rollout.requested_from
    if _same_os_user(started, os_account):
        assert started is not None
        return (
            f"four-eyes: OS user {started.user} started {ref} (from {started}), so an "
            f"approval typed as {started.user} is the requester's own, whatever --as says"
        )
    return ""


def _same_os_user(a: OsAccount | None, b: OsAccount | None) -> bool:
    """Both typed at a terminal, as the same OS user. The host is not compared: one name
    on two hosts is most often one person, and four-eyes errs on the side of refusing."""
    return a is not None and b is not None and a.user == b.user


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
