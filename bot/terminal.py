"""The terminal face: `rollbot plan|deploy|approve|reject|resume|rollback|status|history|
pause|cancel`, driving the same engine Slack drives.

Options use the slash-command words (`batch=5`) and go through the same parser as
`/deploy`, so a command that works in one face works in the other. A foreground rollout
is journalled like any other: Ctrl-C leaves it resumable with `rollbot resume ID`.
"""

from __future__ import annotations

import getpass
import os
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TextIO

from bot.plain import plain
from bot.runtime import Runtime, build_runtime
from handlers import render
from handlers.commands import (
    DEPLOY_USAGE,
    CommandError,
    Deploy,
    RollbackRollout,
    parse_deploy,
    parse_rollback,
)
from rollout import errors
from rollout.model import EventKind, InboxItem, Phase, Rollout, RolloutEvent
from rollout.options import UsageError
from rollout.plan import eta

POLL_SECONDS = 0.5
AUTO_APPROVER = "auto-approve"


class Printer:
    """A Listener that prints what Slack would show, as plain lines with a time stamp."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self._lock = threading.Lock()
        self._last_progress: dict[int, str] = {}

    def publish(self, event: RolloutEvent) -> None:
        text = self._text(event)
        if not text:
            return
        stamp = event.at.strftime("%H:%M:%S")
        with self._lock:
            for i, line in enumerate(plain(text).splitlines()):
                self.out.write(f"{stamp if i == 0 else ' ' * len(stamp)}  {line}\n")
            self.out.flush()

    def _text(self, event: RolloutEvent) -> str:
        r = event.rollout
        kind = event.kind
        if kind is EventKind.PROGRESS:
            line = f"#{r.id} {render.phase_line(r)} · {render.counts_line(r)}"
            if self._last_progress.get(r.id) == line:
                return ""
            self._last_progress[r.id] = line
            return line
        if kind is EventKind.BATCH_DONE and event.batch is not None:
            return render.batch_result_message(r, event.batch).text
        if kind is EventKind.AWAITING_APPROVAL:
            return (
                f"✋ #{r.id} is waiting for approval: rollbot approve {r.id} --as <USER> "
                f"(or rollbot reject {r.id} --as <USER>)"
            )
        if kind is EventKind.FAILED and event.batch is not None:
            return render.failure_choices(r, event.batch).text + (
                f"\n  rollbot rollback {r.id} · rollbot resume {r.id}"
            )
        if kind is EventKind.REFUSED:
            return render.refused(r.app, r.version, event.problems, user=r.requested_by).text
        if kind is EventKind.ROLLED_BACK:
            return render.rollback_result(r).text
        if kind in {EventKind.COMPLETED, EventKind.CANCELLED, EventKind.EXPIRED}:
            return render.summary(r).text
        if kind is EventKind.SWITCHED:
            return render.blue_green_switched(r).text
        who = f" by {event.user}" if event.user else ""
        detail = f": {event.detail}" if event.detail else ""
        return f"#{r.id} {kind.value.replace('-', ' ')}{who}{detail}"


def current_user(explicit: str | None) -> str:
    return explicit or os.environ.get("ROLLBOT_USER") or getpass.getuser()


def _flags(args: Sequence[str], *names: str) -> tuple[list[str], dict[str, str | bool]]:
    """Split `--flag` / `--flag VALUE` options (given in `names`, value ones end in '=')
    from the slash-command words."""
    rest: list[str] = []
    found: dict[str, str | bool] = {}
    it = iter(args)
    for arg in it:
        key = arg.split("=", 1)[0]
        if f"{key}=" in names:
            value = arg.split("=", 1)[1] if "=" in arg else next(it, "")
            if not value:
                raise CommandError(errors_usage(f"{key} needs a value"), usage=DEPLOY_USAGE)
            found[key] = value
        elif key in names:
            found[key] = True
        else:
            rest.append(arg)
    return rest, found


def errors_usage(problem: str) -> UsageError:
    return UsageError(problem)


def _now() -> datetime:
    return datetime.now(UTC)


def _deploy_command(words: Sequence[str], runtime_apps: Sequence[str]) -> Deploy:
    command = parse_deploy(" ".join(words), apps=runtime_apps, now=_now())
    if not isinstance(command, Deploy):
        raise CommandError(errors_usage("expected <app> <version> [options]"), usage=DEPLOY_USAGE)
    return command


def _rollout_id(words: Sequence[str], usage: str) -> int:
    if len(words) != 1 or not words[0].lstrip("#").isdigit():
        raise CommandError(errors_usage("expected a rollout ID such as 42"), usage=usage)
    return int(words[0].lstrip("#"))


def _follow(
    runtime: Runtime, ids: Sequence[int], *, auto_approve: bool, out: TextIO
) -> list[Rollout]:
    """Drive the given rollouts until each ends; approvals come from other processes
    through the journal, or from --auto-approve."""
    engine = runtime.engine
    pending = list(ids)
    finished: list[Rollout] = []
    approved: set[tuple[int, int]] = set()
    while pending:
        engine.poll_inbox()
        for rid in list(pending):
            rollout = engine.wait(rid, timeout=POLL_SECONDS / max(1, len(pending)))
            if rollout.phase.terminal:
                pending.remove(rid)
                finished.append(rollout)
            elif rollout.phase is Phase.AWAITING_APPROVAL and auto_approve:
                gate = (rid, rollout.current_batch)
                if gate not in approved:
                    approved.add(gate)
                    engine.submit(
                        InboxItem(
                            rollout_id=rid,
                            action="approve",
                            user=AUTO_APPROVER,
                            at=_now(),
                            source="cli-auto-approve",
                        )
                    )
    return finished


def _open(out: TextIO, *, printer: bool = True) -> Runtime:
    return build_runtime(listeners=[Printer(out)] if printer else [])


def cmd_plan(args: list[str], out: TextIO) -> int:
    runtime = build_runtime()
    try:
        command = _deploy_command(args, list(runtime.config.apps))
        plan, estimate = runtime.engine.plan(command.app, command.version, command.options)
        preview = runtime.engine.preview(command.app, command.version, command.options, plan)
        message = render.plan_message(
            preview,
            pilots=plan.pilots,
            batches=plan.batches,
            estimate_seconds=int(estimate.total_seconds),
            dry_run=True,
        )
        out.write(plain(message.text) + "\n")
        return 0
    finally:
        runtime.close()


def cmd_deploy(args: list[str], out: TextIO) -> int:
    words, flags = _flags(args, "--auto-approve", "--as=")
    runtime = _open(out)
    try:
        command = _deploy_command(words, list(runtime.config.apps))
        if command.options.dry_run:
            runtime.close()
            return cmd_plan([w for w in words], out)
        user = current_user(str(flags["--as"]) if "--as" in flags else None)
        rollout = runtime.engine.start(
            app=command.app,
            version=command.version,
            options=command.options,
            user=user,
            source="cli",
        )
        out.write(f"Rollout #{rollout.id}: {command.app} {command.version}\n")
        out.flush()
        try:
            (final,) = _follow(
                runtime, [rollout.id], auto_approve=bool(flags.get("--auto-approve")), out=out
            )
        except KeyboardInterrupt:
            out.write(
                f"\nStopped following #{rollout.id}; continue with: rollbot resume {rollout.id}\n"
            )
            return 130
        return 0 if final.phase is Phase.COMPLETED else 1
    finally:
        runtime.close()


def cmd_resume(args: list[str], out: TextIO) -> int:
    words, flags = _flags(args, "--auto-approve")
    rid = _rollout_id(words, "rollbot resume [ID]") if words else None
    runtime = _open(out)
    try:
        resumed = runtime.engine.resume_unfinished(rid)
        if not resumed:
            out.write(
                "Nothing to resume.\n" if rid is None else f"#{rid} has nothing left to do.\n"
            )
            return 0
        for r in resumed:
            out.write(f"Resuming #{r.id}: {r.app} {r.version} ({render.phase_line(r)})\n")
        finals = _follow(
            runtime,
            [r.id for r in resumed],
            auto_approve=bool(flags.get("--auto-approve")),
            out=out,
        )
        return 0 if all(r.phase in {Phase.COMPLETED, Phase.ROLLED_BACK} for r in finals) else 1
    finally:
        runtime.close()


def _decide(action: str) -> Callable[[list[str], TextIO], int]:
    def run(args: list[str], out: TextIO) -> int:
        words, flags = _flags(args, "--as=")
        usage = f"rollbot {action} <ID> --as <USER>"
        rid = _rollout_id(words, usage)
        if "--as" not in flags:
            raise CommandError(errors_usage("say who decides with --as <USER>"), usage=usage)
        runtime = build_runtime()
        try:
            runtime.engine.check(
                InboxItem(rollout_id=rid, action=action, user=str(flags["--as"]), at=_now())
            )
            runtime.store.enqueue(
                InboxItem(
                    rollout_id=rid, action=action, user=str(flags["--as"]), at=_now(), source="cli"
                )
            )
            out.write(f"{action.capitalize()} of #{rid} by {flags['--as']} recorded.\n")
            return 0
        finally:
            runtime.close()

    return run


def _control(action: str) -> Callable[[list[str], TextIO], int]:
    def run(args: list[str], out: TextIO) -> int:
        words, flags = _flags(args, "--as=")
        rid = _rollout_id(words, f"rollbot {action} <ID>")
        user = current_user(str(flags["--as"]) if "--as" in flags else None)
        runtime = build_runtime()
        try:
            item = InboxItem(rollout_id=rid, action=action, user=user, at=_now(), source="cli")
            runtime.engine.check(item)
            runtime.store.enqueue(item)
            out.write(f"{action.capitalize()} of #{rid} requested.\n")
            return 0
        finally:
            runtime.close()

    return run


def cmd_rollback(args: list[str], out: TextIO) -> int:
    words, flags = _flags(args, "--as=")
    user = current_user(str(flags["--as"]) if "--as" in flags else None)
    runtime = _open(out)
    try:
        command = parse_rollback(" ".join(words), apps=list(runtime.config.apps), now=_now())
        if isinstance(command, RollbackRollout):
            item = InboxItem(
                rollout_id=command.rollout_id,
                action="rollback",
                user=user,
                at=_now(),
                tenants=command.tenants,
                source="cli",
            )
            rollout = runtime.engine.rollback(item)
        else:
            rollout = runtime.engine.rollback_app(
                app=command.app, to_version=command.to_version, tenants=command.tenants, user=user
            )
        (final,) = _follow(runtime, [rollout.id], auto_approve=False, out=out)
        return 0 if final.phase is Phase.ROLLED_BACK else 1
    finally:
        runtime.close()


def cmd_status(args: list[str], out: TextIO) -> int:
    runtime = build_runtime()
    try:
        if args:
            rid = _rollout_id(args, "rollbot status [ID]")
            rollout = runtime.store.get(rid)
            if rollout is None:
                raise errors.UnknownRollout(rid)
            message = render.rollout_detail(rollout, eta=eta(rollout, now=_now()))
        else:
            message = render.status_message(runtime.store.list_rollouts(active=True))
        out.write(plain(message.text) + "\n")
        return 0
    finally:
        runtime.close()


def cmd_history(args: list[str], out: TextIO) -> int:
    runtime = build_runtime()
    try:
        app = args[0] if args else None
        if app is not None and app not in runtime.config.apps:
            raise CommandError(errors_usage(f"unknown app {app!r}"), usage="rollbot history [app]")
        rollouts = runtime.store.list_rollouts(app=app, limit=20)
        out.write(plain(render.history_message(rollouts, app=app).text) + "\n")
        return 0
    finally:
        runtime.close()


VERBS: dict[str, Callable[[list[str], TextIO], int]] = {
    "plan": cmd_plan,
    "deploy": cmd_deploy,
    "resume": cmd_resume,
    "approve": _decide("approve"),
    "reject": _decide("reject"),
    "rollback": cmd_rollback,
    "status": cmd_status,
    "history": cmd_history,
    "pause": _control("pause"),
    "cancel": _control("cancel"),
}


def run(verb: str, args: list[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one verb; every refusal is a message and an exit code, never a traceback."""
    try:
        return VERBS[verb](args, out)
    except CommandError as exc:
        err.write(exc.reply + "\n")
        return 2
    except errors.ConfigError as exc:
        err.write(f"rollbot: configuration error: {exc}\n")
        return 2
    except errors.PreflightFailed as exc:
        err.write("rollbot: refused:\n" + "".join(f"  - {p}\n" for p in exc.problems))
        return 1
    except errors.RollbotError as exc:
        err.write(f"rollbot: {exc}\n")
        return 1


def _entry(verb: str) -> Callable[[list[str]], int]:
    def main(args: list[str]) -> int:
        return run(verb, args)

    return main


plan = _entry("plan")
deploy = _entry("deploy")
approve = _entry("approve")
reject = _entry("reject")
resume = _entry("resume")
rollback = _entry("rollback")
status = _entry("status")
history = _entry("history")
pause = _entry("pause")
cancel = _entry("cancel")
