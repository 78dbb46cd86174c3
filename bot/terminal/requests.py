"""The verbs that ask something of a rollout: approve, reject, pause, cancel, roll back.

The terminal is an edge like Slack: it checks who may ask (:mod:`rollout.policy`) and
whether the request applies now (the state machine, asked without acting), refuses with
the reason, and writes every refusal to the audit log. An accepted request goes to the
process that drives the rollout: through the journal's inbox when another process
drives it (`rollbot deploy` in another terminal picks it up within a second), or,
for pause, cancel and rollback of a rollout nobody drives, by driving it here until the
request has done its work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TextIO

from bot.terminal.follow import drive, watch
from bot.terminal.groups import authorize
from bot.terminal.printer import Printer
from bot.terminal.rollouts import EXIT_NOT_COMPLETED, EXIT_OK
from bot.terminal.session import Journal, Session, default_user, os_account, request
from bot.terminal.words import Args, person, refusal, rollback_words, rollout_id
from handlers.commands import Help, RollbackApp, RollbackRollout
from rollout import machine
from rollout.actions import Action
from rollout.engine.requests import to_command
from rollout.errors import InvalidTransition, PermissionDenied
from rollout.model import InboxItem, Phase, Rollout, from_terminal
from rollout.policy import Decision, may_approve, may_control, may_rollback

Verb = Callable[[Args, TextIO], int]
# Where a request applied here has done its work.
_WANTED = {Action.PAUSE: Phase.PAUSED, Action.CANCEL: Phase.CANCELLED,
           Action.ROLLBACK: Phase.ROLLED_BACK}


def _checked(journal: Journal, rollout: Rollout, item: InboxItem, decision: Decision) -> None:
    """Refuse (and audit the refusal) unless both policy and the machine allow `item`."""
    reason = "" if decision.allowed else decision.reason
    if not reason:
        try:
            machine.decide(rollout, to_command(item), now=item.at)
        except InvalidTransition as err:
            reason = str(err)
    if reason:
        journal.audit(user=item.user, action=item.action, outcome="refused",
                      rollout_id=rollout.id, detail=reason)
        raise PermissionDenied(item.user, item.action, reason)


def _may_decide(rollout: Rollout, journal: Journal, item: InboxItem) -> Decision:
    app, user = journal.app(rollout.app), item.user
    if item.action is not Action.APPROVE:
        # Four-eyes keeps requesters from approving their own rollout, not from stopping it.
        rollout = replace(rollout, settings=replace(rollout.settings, four_eyes=False))
    return authorize(
        lambda groups: may_approve(rollout, app, user, groups, os_account=item.os_account),
        user=user, entries=app.approvers,
    )


def decide_verb(verb: Action) -> Verb:
    """`rollbot approve|reject ID --as USER`: queue the decision for the driver."""

    def run(args: Args, out: TextIO) -> int:
        rid = rollout_id(args)
        user = person(args, required=True, default="")
        with Journal.open() as journal:
            rollout = journal.rollout(rid)
            item = request(rid, verb, user)
            _checked(journal, rollout, item, _may_decide(rollout, journal, item))
            journal.store.enqueue(item)
            driven = journal.claims.driven_elsewhere(rid)
        done = "Approval" if verb is Action.APPROVE else "Rejection"
        out.write(f"{done} of #{rid} by {user}{from_terminal(item.os_account)} recorded.\n")
        if driven:
            out.write(f"The rollbot process driving #{rid} acts on it now.\n")
        else:
            out.write(f"No rollbot process is driving #{rid} right now; it takes effect when "
                      f"one does: rollbot resume {rid}\n")
        return EXIT_OK

    return run


def control_verb(verb: Action) -> Verb:
    """`rollbot pause|cancel ID`: queue it for the driver, or apply it here."""

    def run(args: Args, out: TextIO) -> int:
        rid = rollout_id(args)
        user = person(args, required=False, default=default_user())
        with Journal.open() as journal:
            rollout = journal.rollout(rid)
            item = request(rid, verb, user)
            app = journal.app(rollout.app)
            decision = authorize(lambda groups: may_control(rollout, app, user, groups, verb),
                                 user=user, entries=app.deployers + app.approvers)
            handed = _hand_over(journal, rollout, item, decision, out=out)
        return _apply_here(item, out=out) if handed is None else handed

    return run


def cmd_rollback(args: Args, out: TextIO) -> int:
    user = person(args, required=False, default=default_user())
    with Journal.open() as journal:
        command = rollback_words(args, apps=journal.config.apps)
        if isinstance(command, Help):
            raise refusal(args.verb, f"{args.verb} needs a rollout ID or an app.")
        if isinstance(command, RollbackApp):
            app = journal.app(command.app)
            decision = authorize(lambda groups: may_rollback(None, app, user, groups),
                                 user=user, entries=app.deployers + app.approvers)
            if not decision.allowed:
                journal.audit(user=user, action=Action.ROLLBACK, outcome="refused",
                              rollout_id=None, detail=decision.reason)
                raise PermissionDenied(user, Action.ROLLBACK, decision.reason)
        else:
            return _rollback_rollout(journal, command, user=user, out=out)
    with Session.open(out) as session:
        started = session.runtime.engine.rollback_app(
            app=command.app, to_version=command.to_version, tenants=command.tenants, user=user,
            os_account=os_account(),
        )
        session.runtime.claims.claim(started.id)
        session.printer.say(f"Rollback #{started.id}: {command.app}"
                            + (f" to {command.to_version}" if command.to_version else ""))
        session.printer.release()
        final = drive(session.runtime, [started.id], stops=session.stops)[started.id]
    # `to=VERSION` deploys that version (it completes); without it the latest rollout of
    # the app is rolled back.
    wanted = Phase.COMPLETED if command.to_version is not None else Phase.ROLLED_BACK
    return _code(final, wanted=wanted)


def _rollback_rollout(
    journal: Journal, command: RollbackRollout, *, user: str, out: TextIO
) -> int:
    rid = command.rollout_id
    rollout = journal.rollout(rid)
    item = request(rid, Action.ROLLBACK, user, tenants=command.tenants)
    app = journal.app(rollout.app)
    decision = authorize(lambda groups: may_rollback(rollout, app, user, groups),
                         user=user, entries=app.deployers + app.approvers)
    handed = _hand_over(journal, rollout, item, decision, out=out)
    if handed is not None:
        return handed
    journal.close()
    return _apply_here(item, out=out)


def _hand_over(
    journal: Journal, rollout: Rollout, item: InboxItem, decision: Decision, *, out: TextIO
) -> int | None:
    """A request another process should carry out (pause, cancel, roll back): refused as
    `_checked` says; queued for the process that drives the rollout, and followed until
    done; None when no process drives it, so this one must."""
    _checked(journal, rollout, item, decision)
    rid = item.rollout_id
    if not journal.claims.driven_elsewhere(rid):
        return None
    journal.store.enqueue(item)
    out.write(f"{item.action.capitalize()} of #{rid} requested; the rollbot process driving "
              "it acts on it now.\n")
    until = _paused_or_over if item.action == Action.PAUSE else _over
    final = _watch(journal, rid, out=out, until=until)
    return _code(final, wanted=_WANTED[Action(item.action)])


def _apply_here(item: InboxItem, *, out: TextIO) -> int:
    """Nobody drives the rollout: take it over, apply the request, follow it through."""
    rid = item.rollout_id
    with Session.open(out) as session:
        if not session.runtime.claims.claim(rid):
            raise PermissionDenied(item.user, item.action,
                                   f"#{rid} was just taken over by another rollbot process; "
                                   "try again")
        rollout = session.runtime.store.get(rid)
        if rollout is not None and rollout.active:
            session.runtime.engine.resume_unfinished(rid)
        session.printer.say(f"{item.action.capitalize()} of #{rid} by {item.user}")
        session.printer.release()
        session.runtime.engine.submit(item)
        final = drive(session.runtime, [rid], stops=session.stops)[rid]
    return _code(final, wanted=_WANTED[Action(item.action)])


def _watch(
    journal: Journal, rid: int, *, out: TextIO, until: Callable[[Rollout], bool]
) -> Rollout:
    """Follow, from the journal, a request another process carries out."""
    printer = Printer(out)
    final = watch(journal.store, rid, printer=printer, until=until,
                  driven=lambda: journal.claims.driven_elsewhere(rid))
    printer.finish()
    if not until(final):
        out.write(f"The rollbot process driving #{rid} stopped before it got there; the "
                  f"request waits in the journal. Continue with: rollbot resume {rid}\n")
    return final


def _over(rollout: Rollout) -> bool:
    return rollout.phase.terminal


def _paused_or_over(rollout: Rollout) -> bool:
    return rollout.phase is Phase.PAUSED or rollout.phase.terminal


def _code(final: Rollout, *, wanted: Phase) -> int:
    return EXIT_OK if final.phase is wanted else EXIT_NOT_COMPLETED


cmd_approve = decide_verb(Action.APPROVE)
cmd_reject = decide_verb(Action.REJECT)
cmd_pause = control_verb(Action.PAUSE)
cmd_cancel = control_verb(Action.CANCEL)
