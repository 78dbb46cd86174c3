"""`rollbot release`: the release pipeline from a terminal, like `rollbot deploy`.

`rollbot release v1.3.1 [words]` prints the release ID first, then the checklist as it
goes (each step as it starts and finishes, a failed step's last lines and where its whole
log is, each deploy's rollout as Slack's thread would show it), and stays until the
release ends: exit 0 only when it completed. Its deploys wait at their approval gates for
`rollbot approve <ID> --as <USER>` from another terminal, unless `--auto-approve` gave
them the requester's own approval (refused up front where that approval would be).
Ctrl-C ends the running step and leaves the release in the journal, where `rollbot
serve` takes it up, or `rollbot release cancel <ID>` ends it.

`status`, `list` and `cancel` read and write the journal only: no engine, registry or
cluster is needed for them.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import TextIO

from bot.clock import SystemClock
from bot.config import Config, load_config
from bot.plain import plain
from bot.release import Releases, log_tail
from bot.release.book import ReleaseBook
from bot.terminal.groups import authorize, authorize_in
from bot.terminal.printer import Held, Printer
from bot.terminal.rollouts import EXIT_NOT_COMPLETED, EXIT_OK, check_auto_approve, plan_text
from bot.terminal.session import Journal, Session, default_user, os_account
from bot.terminal.words import Args, for_terminal, person, refusal, usage_of
from handlers import render
from handlers.commands import CommandError, Help
from handlers.release_commands import (
    CancelRelease,
    ListReleases,
    ReleaseCommand,
    ReleaseStatus,
    StartRelease,
    parse_release_command,
)
from rollout.errors import PermissionDenied
from rollout.model import AppSpec
from rollout.policy import may_release, may_stop_release
from rollout.release import (
    Release,
    ReleaseEvent,
    ReleaseEventKind,
    ReleasePhase,
    ReleaseRequest,
    StepState,
)

POLL_SECONDS = 0.5  # how often requests from other terminals are taken while following


def cmd_release(args: Args, out: TextIO) -> int:
    config = load_config()
    match _command(args, apps=config.apps):
        case Help():
            out.write(usage_of(args.verb) + "\n")
            return EXIT_OK
        case ReleaseStatus(release_id=release_id):
            return _status(config, release_id, out)
        case ListReleases():
            with Journal.open(config) as journal:
                found = _book(journal).list_releases(limit=20)
            out.write(plain(render.release_list(found).text) + "\n")
            return EXIT_OK
        case CancelRelease(release_id=release_id):
            return _cancel(args, config, release_id, out)
        case StartRelease(request=request):
            return _start(args, config, request, out)
    raise TypeError("unexpected release command")


def _command(args: Args, *, apps: Collection[str]) -> ReleaseCommand:
    try:
        return parse_release_command(" ".join(args.words), apps=apps, now=datetime.now(UTC))
    except CommandError as err:
        raise for_terminal(args.verb, err) from None


def _book(journal: Journal) -> ReleaseBook:
    return ReleaseBook(journal.store, clock=SystemClock())


def _status(config: Config, release_id: int | None, out: TextIO) -> int:
    with Journal.open(config) as journal:
        book = _book(journal)
        found = [book.status(release_id)] if release_id else book.list_releases(limit=1)
        if not found:
            out.write(plain(render.release_list([]).text) + "\n")
            return EXIT_OK
        release = found[0]
        out.write(plain(render.release_detail(release).text) + "\n")
        if release.active and not book.driven_elsewhere(release.id):
            out.write(f"{release.label}: no rollbot process is driving it; rollbot serve takes "
                      f"it up, or rollbot release cancel {release.id} ends it.\n")
    return EXIT_OK


def _cancel(args: Args, config: Config, release_id: int, out: TextIO) -> int:
    if args.flag("--auto-approve"):
        raise refusal(args.verb, "--auto-approve goes with a release to start, not a cancel.")
    user = person(args, required=False, default=default_user())
    with Journal.open(config) as journal:
        book = _book(journal)
        release = book.status(release_id)
        apps = [journal.app(name) for name in release.apps]
        decision = authorize(lambda groups: may_stop_release(release, apps, user, groups),
                             user=user, entries=_people(apps, approvers=True))
        if not decision.allowed:
            book.audit(user, f"release cancel {release.label}", "refused", decision.reason,
                       source="cli", account=os_account())
            raise PermissionDenied(user, "release cancel", decision.reason)
        stopped = book.cancel(release_id, user=user, os_account=os_account())
    out.write(plain(render.release_stop_asked(stopped, user=user).text) + "\n")
    return EXIT_OK


def _start(args: Args, config: Config, request: ReleaseRequest, out: TextIO) -> int:
    user = person(args, required=False, default=default_user())
    apps = [config.app(name) for name in request.apps or config.apps]
    decision, groups = authorize_in(
        lambda member_of: may_release(apps, user, member_of, skip_checks=request.skip_checks),
        user=user, entries=_people(apps, approvers=request.skip_checks))
    if not decision.allowed:
        with Journal.open(config) as journal:
            journal.audit(user=user, action=f"release {request.version}", outcome="refused",
                          rollout_id=None, detail=decision.reason)
        raise PermissionDenied(user, "release", decision.reason)
    gates_off: tuple[str, ...] = ()
    if args.flag("--auto-approve") and not (request.build_only or request.dry_run):
        gated = [app for app in apps if app.settings.approval]
        for app in gated:
            check_auto_approve(config, app, user=user)
        gates_off = tuple(app.name for app in gated)
    with Session.open(out, config=config, no_gate_for=gates_off) as session:
        told = ReleasePrinter(session.printer)
        releases = Releases(config=config, runtime=session.runtime, listeners=[told])
        if request.dry_run:
            return _dry_run(releases, config, request, user=user, groups=groups, out=out)
        release = releases.start(request, user=user, groups=groups, source="cli",
                                 os_account=os_account())
        gate = " (approval gates off: --auto-approve)" if gates_off else ""
        session.printer.say(f"Release {release.label}: {release.version} of "
                            f"{', '.join(release.apps)} by {user}{gate}")
        told.release()
        session.printer.release()
        return _follow(session, releases, release)


def _dry_run(releases: Releases, config: Config, request: ReleaseRequest, *, user: str,
             groups: frozenset[str], out: TextIO) -> int:
    plan = releases.plan(request, user=user, groups=groups)
    deploys = {app: render.Message(text=plan_text(config.app(app), d.preview, d.plan,
                                                  d.estimate))
               for app, d in plan.deploys.items()}  # fmt: skip
    out.write(plain(render.release_plan(plan, deploys=deploys).text) + "\n")
    return EXIT_NOT_COMPLETED if plan.problems else EXIT_OK


def _follow(session: Session, releases: Releases, release: Release) -> int:
    """Until the release ends, taking the requests other terminals leave for its deploys
    (`rollbot approve`). Ctrl-C ends the running step and leaves the rest to a restart."""
    engine = session.runtime.engine
    try:
        while not releases.wait(release.id, POLL_SECONDS).finished_at:
            engine.poll_inbox()
        done = releases.wait(release.id)  # and its last lines are printed
    except KeyboardInterrupt:
        releases.shutdown()
        session.printer.say(f"Stopped. {release.label} stays in the journal as it was: rollbot "
                            f"serve takes it up, or rollbot release cancel {release.id} ends it.")
        raise
    return EXIT_OK if done.phase is ReleasePhase.COMPLETED else EXIT_NOT_COMPLETED


def _people(apps: Sequence[AppSpec], *, approvers: bool) -> tuple[str, ...]:
    return tuple(e for a in apps for e in (*a.deployers, *(a.approvers if approvers else ())))


class ReleasePrinter:
    """A release listener: the release's conversation as terminal lines, as Slack's
    checklist and thread tell it. Lines wait for :meth:`release`, so the verb's own first
    line (the release ID) comes first."""

    def __init__(self, printer: Printer) -> None:
        self._printer = printer
        self._events = Held(self._show, lock=threading.Lock())

    def publish_release(self, event: ReleaseEvent) -> None:
        self._events.put(event)

    def release(self) -> None:
        self._events.release()

    def _show(self, event: ReleaseEvent) -> None:
        text = release_event_text(event)
        if text:
            self._printer.note(text, at=datetime.now(UTC))


def release_event_text(event: ReleaseEvent) -> str:
    """What a person at a terminal reads about one release event; "" for none."""
    release, step, kind = event.release, event.step, event.kind
    if kind is ReleaseEventKind.STARTED:
        return "\n".join(render.checklist(release))
    if kind is ReleaseEventKind.STEP_STARTED and step is not None:
        return render.step_started(step)
    if kind is ReleaseEventKind.DEPLOY_STARTED and step is not None and event.rollout:
        return render.deploy_running(step, rollout_id=event.rollout.id, link=None).text
    if kind is ReleaseEventKind.STEP_FINISHED and step is not None:
        lines = [render.step_finished(release, step).text]
        failed = step.state is StepState.FAILED and release.phase is not ReleasePhase.CANCELLED
        if failed and step.kind in render.SHOWS_OUTPUT and step.log_path:
            tail = log_tail(step)
            if tail:
                lines.append(render.tail_message(step, tail).text)
            lines.append(f"Whole log: {step.log_path}")
        return "\n".join(lines)
    if kind is ReleaseEventKind.BUILT:
        return render.release_notify_line("built", release, link=None).text
    if kind in (ReleaseEventKind.COMPLETED, ReleaseEventKind.FAILED,
                ReleaseEventKind.CANCELLED):
        return render.release_summary(release).text
    return ""
