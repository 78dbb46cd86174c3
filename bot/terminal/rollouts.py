"""The verbs that run a rollout in the foreground: `plan`, `deploy`, `resume`.

`deploy` prints the rollout ID first, then the conversation Slack would show, and stays
until the rollout ends (exit 0 only when it completed) or pauses for a person's choice
(exit 3, with the commands that make that choice). At an approval gate it waits for
`rollbot approve|reject ID --as USER` from another terminal, unless `--auto-approve`
turned the gate off for this rollout; that counts as the requester's own approval, so it
is refused up front wherever such an approval would be (four-eyes, more than one
approval needed), unless the app sets `terminal_auto_approve`. `resume` takes over
unfinished rollouts, after a crash or a pause, and follows them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from bot.config import Config, load_config
from bot.plain import plain
from bot.terminal.fold import fold
from bot.terminal.follow import drive
from bot.terminal.groups import authorize
from bot.terminal.session import Journal, Session, default_user, os_account, request
from bot.terminal.words import (
    Args,
    deploy_words,
    now,
    optional_rollout_id,
    person,
    refusal,
    shell,
)
from handlers import render
from handlers.commands import Deploy
from rollout import machine
from rollout.actions import Action
from rollout.engine.requests import to_command
from rollout.errors import RollbotError
from rollout.model import AppSpec, Phase, Rollout, Strategy, TargetStatus
from rollout.options import format_duration
from rollout.plan import Estimate, Plan
from rollout.policy import enforce, may_auto_approve, may_control, may_deploy

EXIT_OK = 0
EXIT_NOT_COMPLETED = 1
EXIT_NEEDS_A_PERSON = 3


def cmd_plan(args: Args, out: TextIO) -> int:
    config = load_config()
    command = deploy_words(args, apps=config.apps)
    return show_plan(config, command, out, everything=args.flag("--all"), flag="--all")


def show_plan(
    config: Config, command: Deploy, out: TextIO, *, everything: bool, flag: str
) -> int:
    """The dry run: read the fleet, print pilots, gates, batches and an estimate; every
    tenant's name only when `everything` (`flag` asks for that)."""
    with Session.open(out, config=config, reading=True) as session:
        engine = session.runtime.engine
        plan, estimate = engine.plan(command.app, command.version, command.options)
        preview = engine.preview(command.app, command.version, command.options, plan)
    text = shell(plan_text(config.app(command.app), preview, plan, estimate))
    out.write(fold(text, everything=everything, flag=flag) + "\n")
    return EXIT_OK


def plan_text(spec: AppSpec, preview: Rollout, plan: Plan, estimate: Estimate) -> str:
    """A deploy's dry run as the terminal shows it: blue-green as its steps, the others
    as their pilots and batches."""
    if preview.strategy is Strategy.BLUE_GREEN:
        return blue_green_plan(spec, preview, plan, estimate=estimate)
    return render.plan_message(
        preview, pilots=plan.pilots, batches=plan.batches, estimate=estimate,
        dry_run=True, checked=plan,
    ).text


def blue_green_plan(spec: AppSpec, preview: Rollout, plan: Plan, *, estimate: Estimate) -> str:
    """The steps of a blue-green deploy, for a dry run."""
    s = preview.settings
    version = preview.version
    side = f"{spec.deployment}-{version.replace('.', '-')}"
    steps = [
        f"Create ConfigMap {spec.config_map}-{version} and Deployment {side} in "
        f"{spec.namespace}, beside the live version",
        "Wait until it is ready and healthy "
        f"(at most {format_duration(s.rollout_timeout_seconds)})",
    ]
    if s.approval:
        many = f" ({s.approvals_required} approvals)" if s.approvals_required > 1 else ""
        steps.append(f"✋ Approval gate{many}")
    steps += [
        f"Switch Service {spec.service} to {version}",
        f"Watch it for {format_duration(s.monitor_seconds)}; on failure, switch back and "
        "delete the new side",
    ]
    lines = [f"Dry run — nothing will change. Plan for {preview.app} {version} (blue-green)"]
    bump = render.bump_line(s, version)
    lines += [f"Version: {bump}"] if bump is not None else []
    lines += [f"{i}. {step}" for i, step in enumerate(steps, start=1)]
    phrase = render.estimate_phrase(estimate)
    lines.append(phrase[:1].upper() + phrase[1:] + ".")
    lines += render.problem_lines(plan.problems)
    return "\n".join(lines)


def cmd_deploy(args: Args, out: TextIO) -> int:
    config = load_config()
    command = deploy_words(args, apps=config.apps)
    verbose = args.flag("--verbose")
    if command.options.dry_run:
        return show_plan(config, command, out, everything=verbose, flag="--verbose")
    user = person(args, required=False, default=default_user())
    app = config.app(command.app)
    decision = authorize(lambda groups: may_deploy(app, user, groups),
                         user=user, entries=app.deployers)
    enforce(decision, user=user, action="deploy")
    gate_off: tuple[str, ...] = ()
    if args.flag("--auto-approve"):
        check_auto_approve(config, app, user=user)
        gate_off = (command.app,)
    with Session.open(out, config=config, no_gate_for=gate_off, verbose=verbose) as session:
        rollout = session.runtime.engine.start(
            app=command.app,
            version=command.version,
            options=command.options,
            user=user,
            source="cli",
            os_account=os_account(),
        )
        session.runtime.claims.claim(rollout.id)
        bump = render.bump_line(rollout.settings, rollout.version)
        session.printer.say(
            f"Rollout #{rollout.id}: {command.app} {command.version} by {user}"
            + (" (approval gate off: --auto-approve)" if gate_off else "")
            + (f"\nVersion: {bump}" if bump is not None else "")
        )
        session.printer.release()
        return _follow(session, [rollout.id])


def check_auto_approve(config: Config, app: AppSpec, *, user: str) -> None:
    """`--auto-approve` is the requester's own approval: refused, and audited, before
    anything is planned or patched wherever the requester's own click would be."""
    decision = authorize(lambda groups: may_auto_approve(app, user, groups),
                         user=user, entries=app.approvers)
    if decision.allowed:
        return
    with Journal.open(config, create=True) as journal:  # a deploy may start the journal
        journal.audit(user=user, action=f"deploy {app.name} --auto-approve", outcome="refused",
                      rollout_id=None, detail=decision.reason)
    raise RollbotError(
        f"--auto-approve refused, nothing was started: {decision.reason}. Deploy without "
        "it and have an approver run rollbot approve <ID> --as <USER> from another "
        "terminal, under their own OS account, when it waits at its gate; or, for CI and "
        f"benchmarks, set terminal_auto_approve: true for {app.name} in {config.source}."
    )


def cmd_resume(args: Args, out: TextIO) -> int:
    rid = optional_rollout_id(args)
    choice = _choice(args)
    if choice and rid is None:
        raise refusal(args.verb, f"--{choice} needs a rollout ID.",
                      f"For example: rollbot resume 42 --{choice}")
    user = person(args, required=False, default=default_user())
    with Journal.open() as journal:
        ids = _resumable(journal, rid, user=user, choice=choice, out=out)
        paused = rid is not None and bool(ids) and journal.rollout(rid).phase is Phase.PAUSED
    if not ids:
        if rid is None:
            out.write("Nothing to resume.\n")
        return EXIT_OK if rid is None else _finished_code(rid)
    # A paused rollout is taken over first, then un-paused by a request like any other.
    action = choice or (Action.RESUME if paused else None)
    with Session.open(out, verbose=args.flag("--verbose")) as session:
        return _take_over(session, ids, action=action, user=user)


def _take_over(
    session: Session, ids: Sequence[int], *, action: Action | None, user: str
) -> int:
    runtime = session.runtime
    mine: list[int] = []
    for rid in ids:
        if not runtime.claims.claim(rid):
            session.printer.say(f"#{rid} is driven by another rollbot process; leaving it there.")
            continue
        mine.append(rid)
        r = runtime.store.get(rid)
        if r is not None and r.old_side_removal_owed:
            session.printer.say(_removal_wait(r))
        elif r is not None:
            session.printer.say(f"Resuming #{rid}: {render.title(r)}, {render.phase_line(r)}")
    session.printer.release()
    for rid in mine:
        runtime.engine.resume_unfinished(rid)
    if action is not None and len(mine) == 1:
        runtime.engine.submit(request(mine[0], action, user))
    if not mine:
        return EXIT_NOT_COMPLETED
    return _follow(session, mine, until_removed=True)


def _choice(args: Args) -> Action | None:
    """`resume` after a failure: --retry the failed tenants, or --skip them."""
    retry, skip = args.flag("--retry"), args.flag("--skip")
    if retry and skip:
        raise refusal(args.verb, "Choose one of --retry and --skip.")
    return Action.RETRY if retry else Action.SKIP if skip else None


def _resumable(
    journal: Journal, rid: int | None, *, user: str, choice: Action | None, out: TextIO
) -> list[int]:
    """The rollouts to take over; explains the ones left alone."""
    if rid is None:
        ids: list[int] = []
        for r in journal.store.list_rollouts(active=True, limit=1000):
            if r.phase is Phase.PAUSED:
                out.write(f"#{r.id} is paused ({r.reason}); continue it with rollbot resume "
                          f"{r.id}{' --retry or --skip' if _failed(r) else ''}.\n")
            elif journal.claims.driven_elsewhere(r.id):
                out.write(f"#{r.id} is driven by another rollbot process; leaving it there.\n")
            else:
                ids.append(r.id)
        return ids
    rollout = journal.rollout(rid)
    if rollout.old_side_removal_owed and not journal.claims.driven_elsewhere(rid):
        return [rid]  # completed; its old side is still to be removed
    if rollout.phase.terminal:
        out.write(f"#{rid} is already {rollout.phase.label}; there is nothing to resume.\n")
        return []
    if journal.claims.driven_elsewhere(rid):
        raise RollbotError(
            f"#{rid} is being driven by another rollbot process; "
            f"follow it with rollbot status {rid}"
        )
    if rollout.phase is Phase.PAUSED or choice is not None:
        _check_unpause(journal, rollout, user=user, choice=choice)
    return [rid]


def _check_unpause(
    journal: Journal, rollout: Rollout, *, user: str, choice: Action | None
) -> None:
    """Refuse here, with the reason, what the engine would refuse after taking over."""
    app = journal.app(rollout.app)
    decision = authorize(lambda groups: may_control(rollout, app, user, groups, Action.RESUME),
                         user=user, entries=app.deployers + app.approvers)
    enforce(decision, user=user, action=Action.RESUME)
    asked = request(rollout.id, choice or Action.RESUME, user)
    try:
        machine.decide(rollout, to_command(asked), now=now())
    except RollbotError as err:
        hint = ""
        if _failed(rollout) and choice is None:
            hint = (f" Use rollbot resume {rollout.id} --retry, rollbot resume {rollout.id} "
                    f"--skip, or rollbot rollback {rollout.id}.")
        raise RollbotError(plain(str(err)).rstrip(".") + "." + hint) from None


def _failed(rollout: Rollout) -> bool:
    return any(t.status is TargetStatus.FAILED for t in rollout.targets)


def _finished_code(rid: int) -> int:
    with Journal.open() as journal:
        return EXIT_OK if journal.rollout(rid).phase is Phase.COMPLETED else EXIT_NOT_COMPLETED


def _removal_wait(rollout: Rollout) -> str:
    due = rollout.old_side_removal_at
    assert rollout.blue_green is not None
    old = rollout.blue_green.old_deployment or "the old side"
    when = "now" if due is None or due <= now() else f"at {render.clock(due)}"
    return (f"#{rollout.id} {render.title(rollout)} is complete; its old side {old} is "
            f"removed {when}. Waiting for that (Ctrl-C leaves it for later).")


def _follow(session: Session, ids: Sequence[int], *, until_removed: bool = False) -> int:
    """Drive until each rollout ends or pauses; the exit code says how they ended. With
    `until_removed`, also until a completed blue-green rollout's old side is removed."""
    try:
        finals = drive(session.runtime, ids, stops=session.stops, until_removed=until_removed)
    except KeyboardInterrupt:
        again = f"rollbot resume {ids[0]}" if len(ids) == 1 else "rollbot resume"
        session.printer.say(f"Stopped following. Nothing is lost; continue with: {again}")
        raise
    codes = [_outcome(session, r) for r in finals.values()]
    return max(codes, default=EXIT_OK)


def _outcome(session: Session, rollout: Rollout) -> int:
    if rollout.phase is Phase.COMPLETED:
        due = rollout.old_side_removal_at
        if due is not None and rollout.blue_green is not None:
            old = rollout.blue_green.old_deployment or "The old side"
            session.printer.say(
                f"{old} stays until {render.clock(due)} (remove_old_after). Keep rollbot "
                f"serve running, or run rollbot resume {rollout.id} then, to remove it."
            )
        return EXIT_OK
    if rollout.phase is Phase.PAUSED:
        if _failed(rollout):
            what = (f"rollbot resume {rollout.id} --retry, rollbot resume {rollout.id} --skip "
                    f"or rollbot rollback {rollout.id}")
            session.printer.say(f"#{rollout.id} is paused until someone chooses: {what}")
        else:
            session.printer.say(f"#{rollout.id} is paused ({rollout.reason or 'by request'}); "
                                f"continue with: rollbot resume {rollout.id}")
        return EXIT_NEEDS_A_PERSON
    return EXIT_NOT_COMPLETED

