"""Answers about releases to the one person who asked: the dry run, status, the list, and
the acknowledgements of a start or a stop. Slack sends them privately; the terminal
prints the same words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from handlers.render.blocks import blocks_with_budget, context, section
from handlers.render.phrases import Message, mentions, user_ref
from handlers.render.release import (
    RELEASE_ICON,
    escape,
    release_parent,
    release_status,
    release_title,
    step_name,
)
from rollout.release import Release, ReleasePlan, StepState


def release_plan(plan: ReleasePlan, *, deploys: Mapping[str, Message]) -> Message:
    """A dry run: what preflight would say now, every step, every image, then each app's
    deploy plan (`deploys`, rendered as `/deploy ... dry-run` shows them)."""
    r = plan.release
    what = f"*Release {r.version}* of {', '.join(r.apps)}" + (" (build only)" if r.build_only
                                                            else "")
    head = f"Dry run — nothing will change. {what}"
    if plan.problems:
        verdict = [f"🚫 Preflight would refuse it now ({len(plan.problems)}):",
                   *(f"• {mentions(escape(p))}" for p in plan.problems)]
    else:
        verdict = ["✅ Preflight passes."]
    steps = ["*Steps*", *(f"{i}. {step_name(s)}" + (" (skipped: skip-checks)" if s.state is
                                                     StepState.SKIPPED else "")
                          for i, s in enumerate(r.steps, start=1))]
    images = ["*Images*", *(f"{app}: `{tag}`" for app, tag in plan.images.items())]
    lines = [*verdict, *steps, *images]
    for app, shown in deploys.items():
        lines += [f"*Deploy {app}*", *shown.text.split("\n")]
    blocks = blocks_with_budget([section(head)], lines, [])
    return Message(text="\n".join([head, *lines]), blocks=tuple(blocks))


def release_detail(release: Release) -> Message:
    """`/release status`: the checklist as the parent message shows it, without Stop."""
    parent = release_parent(release)
    return Message(text=parent.text,
                   blocks=tuple(b for b in parent.blocks if b["type"] != "actions"))


def release_list(releases: Sequence[Release]) -> Message:
    if not releases:
        text = "No releases yet."
        return Message(text=text, blocks=(section(text),))
    head = "*Recent releases*"
    lines = [
        f"{RELEASE_ICON[r.phase]} {r.label} {r.version} · {release_status(r)} · "
        f"{r.created_at.strftime('%Y-%m-%d %H:%M UTC')} by {user_ref(r.requested_by)}"
        for r in releases
    ]
    blocks = blocks_with_budget([section(head)], lines, [])
    return Message(text="\n".join([head, *lines]), blocks=tuple(blocks))


def release_accepted(release: Release, *, command: str, where: str) -> Message:
    """A release started: its ID, the command as read, and where its checklist goes."""
    text = (f"{release_title(release)} accepted: `{command}`. Its checklist follows "
            f"{where}.")
    return Message(text=text, blocks=(context(text),))


def release_stop_asked(release: Release, *, user: str) -> Message:
    """A stop taken: it ends the running step, pushes nothing more, starts no deploy."""
    if release.phase.terminal and release.stopped_by and release.stopped_by != user:
        text = f"{release.label} was already stopped by {user_ref(release.stopped_by)}."
    elif release.phase.terminal and not release.stopped_by:
        text = f"{release.label} has already ended: {release_status(release)}."
    else:
        running = [step_name(s) for s in release.steps if s.state is StepState.RUNNING]
        now = f" ({', '.join(running)} is being ended)" if running else ""
        text = (f"Stop of {release.label} requested by {user_ref(user)}{now}; nothing more "
                "is pushed and no further deploy starts.")
    return Message(text=text, blocks=(context(text),))
