"""A release's conversation in Slack (SPEC section 9): the parent message with its step
checklist and Stop button, the thread replies as steps finish, the tail of a failed
step's output, the notify-channel lines, and the words that come with the uploaded log.

Pure functions of the release as the journal holds it, like the rollout's messages: the
delivery (``bot/slack``) decides when each is sent, and reads the log's tail for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from handlers.render.blocks import (
    MAX_SECTION_CHARS,
    Block,
    actions,
    blocks_with_budget,
    button,
    context,
    section,
)
from handlers.render.phrases import Message, clock, counted, mentions, user_ref
from rollout.actions import Action
from rollout.model import from_terminal
from rollout.options import format_duration
from rollout.release import Release, ReleasePhase, Step, StepKind, StepState

TAIL_LINES = 30  # of a failed step's output, in its thread
_LONG_LINE = 400  # a longer output line is shortened in the thread (the file has it whole)

STEP_ICON: Mapping[StepState, str] = {
    StepState.PENDING: "⬜",
    StepState.RUNNING: "🔄",
    StepState.DONE: "✅",
    StepState.FAILED: "❌",
    StepState.SKIPPED: "⏭️",
}
RELEASE_ICON: Mapping[ReleasePhase, str] = {
    ReleasePhase.RUNNING: "📦",
    ReleasePhase.COMPLETED: "✅",
    ReleasePhase.FAILED: "❌",
    ReleasePhase.CANCELLED: "🚫",
}
_STEP_NAME: Mapping[StepKind, str] = {
    StepKind.PREFLIGHT: "Preflight",
    StepKind.INSTALL: "Install dependencies",
    StepKind.SHARED_BUILD: "Build the shared packages",
    StepKind.CHECKS: "Run the checks",
    StepKind.IMAGE: "Build the {app} image",
    StepKind.PUSH: "Push the {app} image",
    StepKind.VERIFY: "Verify {app} in the registry",
    StepKind.DEPLOY: "Deploy {app}",
}
# Steps whose output is a build's or a push's: their tail and whole log go to the thread
# when they fail. The others say all there is in their reason.
SHOWS_OUTPUT = frozenset({StepKind.INSTALL, StepKind.SHARED_BUILD, StepKind.CHECKS,
                          StepKind.IMAGE, StepKind.PUSH})  # fmt: skip


# --- small phrases ------------------------------------------------------------------------


def step_name(step: Step) -> str:
    return _STEP_NAME[step.kind].format(app=step.app)


def release_title(release: Release) -> str:
    return f"Release {release.label} {release.version}"


def escape(text: str) -> str:
    """Output shown as it is: Slack reads &, < and > as markup unless they are escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def short_digest(digest: str) -> str:
    """`sha256:1a2b3c4d5e6f`: enough to tell images apart; the thread has it whole."""
    kind, _, value = digest.partition(":")
    return f"{kind}:{value[:12]}" if value else digest


def took(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return format_duration((end - start).total_seconds())


def why_failed(step: Step) -> str:
    """A failed step's reason in one line; the thread has every line of it."""
    lines = [line for line in step.detail.split("\n") if line.strip()]
    if not lines:
        return "no reason was given"
    if step.kind is StepKind.PREFLIGHT and len(lines) > 1:
        return f"{len(lines)} problems, listed in the thread"
    more = " (more in the thread)" if len(lines) > 1 else ""
    return mentions(escape(lines[0])) + more


def failed_step(release: Release) -> Step | None:
    return next((s for s in release.steps if s.state is StepState.FAILED), None)


def checks_skipped(release: Release) -> str:
    """Who left the checks out, "" when they were not: `checks skipped by @alice`."""
    return f"checks skipped by {user_ref(release.requested_by)}" if release.skip_checks else ""


def checks_detail(ran: Sequence[str], skipped: Sequence[str]) -> str:
    """What the checks step did: every check it ran, and those no package had a script for."""
    lines = [f"Ran: {', '.join(f'`{c}`' for c in ran)}" if ran else "Ran no checks."]
    if skipped:
        lines.append("Skipped, as no package they select defines the script: "
                     + ", ".join(f"`{c}`" for c in skipped))
    return "\n".join(lines)


def checklist(release: Release) -> list[str]:
    """Every step's checklist line; checks left out by skip-checks say who left them out."""
    return [f"{STEP_ICON[s.state]} {step_name(s)} · skipped — {checks_skipped(release)} "
            "(skip-checks)" if s.kind is StepKind.CHECKS and release.skip_checks
            else checklist_line(s) for s in release.steps]


def checklist_line(step: Step) -> str:
    """One step of the checklist: icon, name, and how it went or is going."""
    name, state = step_name(step), step.state
    rollout = f" · rollout #{step.rollout_id}" if step.rollout_id else ""
    if state is StepState.RUNNING:
        since = f" · running since {clock(step.started_at)}" if step.started_at else ""
        return f"{STEP_ICON[state]} *{name}*{since}{rollout}"
    if state is StepState.DONE:
        digest = f" · `{short_digest(step.digest)}`" if step.digest else ""
        return f"{STEP_ICON[state]} {name} · {took(step.started_at, step.finished_at)}" + (
            digest or rollout)
    if state is StepState.FAILED:
        after = took(step.started_at, step.finished_at)
        return f"{STEP_ICON[state]} *{name}* · failed after {after}{rollout} — {why_failed(step)}"
    if state is StepState.SKIPPED:
        return f"{STEP_ICON[state]} {name} · skipped" + (
            f" — {mentions(step.detail)}" if step.detail else "")
    return f"{STEP_ICON[state]} {name}"


def step_started(step: Step) -> str:
    """A step begins (the terminal's line; Slack edits the checklist instead)."""
    again = f" (attempt {step.attempts})" if step.attempts > 1 else ""
    rollout = f" as rollout #{step.rollout_id}" if step.rollout_id else ""
    return f"{STEP_ICON[step.state]} *{step_name(step)}*{rollout}{again}…"


def release_status(release: Release) -> str:
    """Where the release is, in one line."""
    phase = release.phase
    if phase is ReleasePhase.COMPLETED:
        return f"Completed in {took(release.created_at, release.finished_at)}"
    if phase is ReleasePhase.CANCELLED:
        return f"Stopped by {user_ref(release.stopped_by)}" if release.stopped_by else "Stopped"
    if phase is ReleasePhase.FAILED:
        failed = failed_step(release)
        return f"Failed at {step_name(failed)}" if failed else "Failed"
    if release.stop_requested_by:
        return f"Stopping, as {user_ref(release.stop_requested_by)} asked"
    running = [step_name(s) for s in release.steps if s.state is StepState.RUNNING]
    return "Running: " + ", ".join(running) if running else "Running"


def release_head(release: Release) -> str:
    """`📦 *Release R7 v1.3.1* by @alice · admin, isp · ref v1.3.1 (1a2b3c4)`."""
    parts = [", ".join(release.apps)]
    if release.ref:
        revision = f" ({release.revision[:7]})" if release.revision else ""
        parts.append(f"ref {release.ref}{revision}")
    if release.build_only:
        parts.append("build only")
    if release.skip_checks:
        parts.append("checks skipped (skip-checks)")  # the head names who asked already
    if release.deploy_words:
        parts.append("deploy options: " + " ".join(release.deploy_words))
    by = f"{user_ref(release.requested_by)}{from_terminal(release.requested_from)}"
    return (f"{RELEASE_ICON[release.phase]} *{release_title(release)}* by {by} · "
            + " · ".join(parts))


# --- the parent message -------------------------------------------------------------------


def release_parent(release: Release) -> Message:
    """The one message per release, edited in place: the checklist, and Stop while it runs."""
    head = release_head(release)
    status = f"*{release_status(release)}*"
    lines = checklist(release)
    tail = [actions(f"release-{release.id}", [stop_button(release)])] if stoppable(
        release) else []
    blocks = blocks_with_budget([section(f"{head}\n{status}")], lines, tail)
    return Message(text="\n".join([head, status, *lines]), blocks=tuple(blocks))


def stoppable(release: Release) -> bool:
    return release.active and not release.stop_requested_by


def stop_button(release: Release) -> Block:
    stop = button("Stop", Action.STOP_RELEASE, str(release.id), style="danger")
    stop["confirm"] = {
        "title": {"type": "plain_text", "text": f"Stop {release.label}?"},
        "text": {"type": "mrkdwn", "text": (
            "The running step is ended, nothing more is pushed and no further deploy "
            "starts. A deploy already running goes on as a normal rollout.")},
        "confirm": {"type": "plain_text", "text": "Stop it"},
        "deny": {"type": "plain_text", "text": "Keep going"},
    }  # fmt: skip
    return stop


# --- the thread ---------------------------------------------------------------------------


def step_finished(release: Release, step: Step, *, link: str | None = None) -> Message:
    """A thread reply when a step has finished: done, or failed and why. `link`: the deploy's
    rollout thread."""
    name, after = step_name(step), took(step.started_at, step.finished_at)
    thread = f" · <{link}|thread>" if link else ""
    if step.state is StepState.FAILED and step.kind is StepKind.PREFLIGHT:
        problems = [p for p in step.detail.split("\n") if p.strip()]
        head = (f"❌ *Preflight found {counted(len(problems), 'problem')}*"
                f"; {release.label} stops here and nothing was built:")
        lines = [f"• {mentions(escape(p))}" for p in problems]
        blocks = blocks_with_budget([section(head)], lines, [])
        return Message(text="\n".join([head, *lines]), blocks=tuple(blocks))
    if step.state is StepState.FAILED:
        text = f"❌ *{name}* failed after {after}{thread}\n{mentions(escape(step.detail))}"
    else:
        text = f"{STEP_ICON[step.state]} *{name}* done in {after}{thread}" + _outcome(step)
    return Message(text=text, blocks=(section(_fit(text)),))


def _outcome(step: Step) -> str:
    if step.kind is StepKind.VERIFY and step.digest:
        return f"\n`{step.digest}`"
    if step.kind is StepKind.DEPLOY and step.detail:
        return f"\n{mentions(step.detail)}"
    if step.detail and step.kind is not StepKind.IMAGE:  # an image's detail is its ID
        return f"\n{mentions(escape(step.detail))}"
    return ""


def deploy_running(step: Step, *, rollout_id: int, link: str | None) -> Message:
    """The deploy's rollout has begun: where to follow it, approve it, or roll it back."""
    thread = f" · <{link}|thread>" if link else ""
    text = (f"🚀 *{step_name(step)}* runs as rollout #{rollout_id}{thread}\n"
            f"Its plan, approvals and batches are in its own thread; pause or roll it back "
            f"there.")
    return Message(text=text, blocks=(section(text),))


def tail_message(step: Step, tail: str) -> Message:
    """The last lines of a failed step's output, as a code block within Slack's limits."""
    lines = [line if len(line) <= _LONG_LINE else line[: _LONG_LINE - 1] + "…"
             for line in tail.splitlines()[-TAIL_LINES:]]
    lines = [escape(line).replace("```", "'''") for line in lines]
    while lines:
        shown = "line" if len(lines) == 1 else f"{len(lines)} lines"
        head = f"Last {shown} of *{step_name(step)}*:"
        text = f"{head}\n```\n" + "\n".join(lines) + "\n```"
        if len(text) <= MAX_SECTION_CHARS:
            return Message(text=text, blocks=(section(text),))
        lines = lines[1:]
    text = f"*{step_name(step)}* wrote no output."
    return Message(text=text, blocks=(section(text),))


def log_file(release: Release, step: Step) -> tuple[str, str]:
    """The uploaded log's file name and title: `R7-image-isp.log`, `R7 Build the isp image`."""
    return (f"{release.label}-{step.key.replace(':', '-')}.log",
            f"{release.label} {step_name(step)}: whole log")


def log_comment(step: Step) -> str:
    return f"The whole output of *{step_name(step)}*, attempt {max(1, step.attempts)}."


def release_summary(release: Release) -> Message:
    """The last reply: how it ended, what is in the registry, and what was deployed."""
    head = f"{RELEASE_ICON[release.phase]} *{release_title(release)}* "
    spent = took(release.created_at, release.finished_at)
    if release.phase is ReleasePhase.COMPLETED:
        head += f"completed in {spent}."
    elif release.phase is ReleasePhase.CANCELLED:
        by = f" by {user_ref(release.stopped_by)}" if release.stopped_by else ""
        head += f"was stopped{by} after {spent}."
    else:
        failed = failed_step(release)
        where = f"at {step_name(failed)} " if failed else ""
        head += f"failed {where}after {spent}: " + (
            why_failed(failed) if failed else mentions(escape(release.reason)))
    skipped = [f"Checks skipped by {user_ref(release.requested_by)} (skip-checks)."] if (
        release.skip_checks) else []
    lines = [*skipped, pushed_line(release), *deployed_lines(release)]
    return Message(text="\n".join([head, *lines]), blocks=(section(_fit(head)),
                                                            context("\n".join(lines))))


def pushed_line(release: Release) -> str:
    verified = [s for s in release.steps_of(StepKind.VERIFY) if s.state is StepState.DONE]
    if not verified:
        return "Nothing was pushed."
    return "In the registry: " + ", ".join(
        f"{s.app} `{short_digest(s.digest)}`" for s in verified) + "."


def deployed_lines(release: Release) -> list[str]:
    if release.build_only:
        return ["Build only: nothing was deployed."]
    lines = []
    for step in release.steps_of(StepKind.DEPLOY):
        if step.rollout_id is None:
            continue
        if step.state is StepState.DONE:
            lines.append(f"{step.app}: rollout #{step.rollout_id} completed.")
        elif step.state is StepState.SKIPPED:
            lines.append(f"{step.app}: rollout #{step.rollout_id} goes on as a normal rollout; "
                         "pause or roll it back in its thread.")
        else:
            lines.append(f"{step.app}: rollout #{step.rollout_id} did not complete.")
    return lines or ["Nothing was deployed."]


def _fit(text: str) -> str:
    """A reply's text within one section; a longer reason is shortened visibly."""
    limit = MAX_SECTION_CHARS
    return text if len(text) <= limit else text[: limit - 40] + "\n… (shortened)"


# --- the notify channel -------------------------------------------------------------------

_NOTIFY: Mapping[str, str] = {
    "started": "📦 {title} started by {user}: {apps}",
    "built": "🏗️ {title} built: {apps} in the registry",
    "completed": "✅ {title} completed: {done}",
    "failed": "❌ {title} failed at {where}",
    "cancelled": "🚫 {title} was stopped by {stopper}",
}
RELEASE_NOTIFY_KINDS = frozenset(_NOTIFY)


def release_notify_line(kind: str, release: Release, *, link: str | None) -> Message:
    failed = failed_step(release)
    text = _NOTIFY[kind].format(
        title=release_title(release),
        user=user_ref(release.requested_by),
        apps=_and(release.apps),
        done=("images pushed, nothing deployed (build only)" if release.build_only
              else f"{_and(release.apps)} deployed"),
        where=(f"{step_name(failed)}: {why_failed(failed)}" if failed
               else mentions(escape(release.reason))),
        stopper=user_ref(release.stopped_by or release.stop_requested_by or "someone"),
    )  # fmt: skip
    if link:
        text += f" · <{link}|thread>"
    return Message(text=text, blocks=(section(_fit(text)),))


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
