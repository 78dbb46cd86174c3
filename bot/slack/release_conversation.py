"""What each release event says in Slack: the release's conversation of SPEC section 9.

Composed like a rollout's (:mod:`bot.slack.conversation`) and sent through the same
outbox: the parent message with its checklist, posted once and then edited; a reply in
its thread for each finished step; on a failed build step, the tail of its output and the
whole log as a file; a link to each deploy's own rollout thread; the summary; one line in
the notify channel for started, built, completed, failed and stopped. Every post and
upload has a name, so an event told again after a restart is not said twice. Every word
comes from :mod:`handlers.render`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.slack import refs
from bot.slack.conversation import Known
from bot.slack.outbox import Outgoing, Upload
from handlers import render
from rollout.model import Rollout
from rollout.release import (
    Release,
    ReleaseEvent,
    ReleaseEventKind,
    ReleasePhase,
    Step,
    StepKind,
    StepState,
)

NOTIFY: dict[ReleaseEventKind, str] = {
    ReleaseEventKind.STARTED: "started",
    ReleaseEventKind.BUILT: "built",
    ReleaseEventKind.COMPLETED: "completed",
    ReleaseEventKind.FAILED: "failed",
    ReleaseEventKind.CANCELLED: "cancelled",
}
ENDINGS = frozenset({ReleaseEventKind.COMPLETED, ReleaseEventKind.FAILED,
                     ReleaseEventKind.CANCELLED})  # fmt: skip


@dataclass(frozen=True)
class ReleaseConversation:
    """Where a release's messages go, and how a failed step's output is read."""

    channel_for: Callable[[str], str]  # the channel asked in ("" for none) -> where to post
    notify_channel: str | None
    read_tail: Callable[[Step], str]  # the last lines of a step's log, "" when it has none

    def compose(self, event: ReleaseEvent, known: Known) -> list[Outgoing]:
        release = event.release
        parent = refs.release_parent(release.id)
        channel = self.channel_for(release.channel)
        now = render.release_parent(release)
        fresh = not known.queued(parent)
        out = [Outgoing("post", channel, now, ref=parent)] if fresh else []
        out += self._replies(event, channel, known)
        if not fresh:
            out.append(Outgoing("update", channel, now, ref=parent))
        out += self._notify(event)
        return out

    def _replies(self, event: ReleaseEvent, channel: str, known: Known) -> list[Outgoing]:
        release, step, kind = event.release, event.step, event.kind
        thread = _Thread(channel, release)
        if kind is ReleaseEventKind.STEP_FINISHED and step is not None:
            return self._finished(release, step, thread)
        if kind is ReleaseEventKind.DEPLOY_STARTED and step is not None and event.rollout:
            return self._deploying(release, step, event.rollout, thread)
        if kind in ENDINGS:
            summary = render.release_summary(release)
            return [thread.reply(summary, ref=refs.release_line(release.id, "summary"))]
        return []

    def _finished(self, release: Release, step: Step, thread: _Thread) -> list[Outgoing]:
        def name(part: str) -> str:
            return refs.release_step(release.id, step.key, step.attempts, part)

        rollout = step.rollout_id
        link = refs.parent(rollout) if step.kind is StepKind.DEPLOY and rollout else None
        said = render.step_finished(release, step, link=refs.LINK_SLOT if link else None)
        out = [thread.reply(said, ref=name("finished"), link=link,
                            unlinked=render.step_finished(release, step))]
        if not self._shows_output(release, step):
            return out
        tail = self.read_tail(step)
        if tail:
            out.append(thread.reply(render.tail_message(step, tail), ref=name("tail")))
        filename, title = render.log_file(release, step)
        comment = render.Message(text=render.log_comment(step))
        out.append(Outgoing("upload", thread.channel, comment, ref=name("log"),
                            thread=thread.parent, upload=Upload(step.log_path, filename, title)))
        return out

    @staticmethod
    def _shows_output(release: Release, step: Step) -> bool:
        """A build step that failed on its own (not ended by a stop) and wrote a log."""
        return (step.state is StepState.FAILED and step.kind in render.SHOWS_OUTPUT
                and release.phase is not ReleasePhase.CANCELLED and bool(step.log_path))

    def _deploying(
        self, release: Release, step: Step, rollout: Rollout, thread: _Thread
    ) -> list[Outgoing]:
        """The deploy's rollout runs: its own parent message goes first (the rollout's
        conversation edits it from then on), so the link to its thread can wait for it."""
        parent = refs.parent(rollout.id)
        first = Outgoing("post", self.channel_for(rollout.channel),
                         render.parent_message(rollout), rollout.id, ref=parent)
        said = render.deploy_running(step, rollout_id=rollout.id, link=refs.LINK_SLOT)
        plain = render.deploy_running(step, rollout_id=rollout.id, link=None)
        ref = refs.release_deploy(release.id, rollout.id)
        return [first, thread.reply(said, ref=ref, link=parent, unlinked=plain)]

    def _notify(self, event: ReleaseEvent) -> list[Outgoing]:
        kind = NOTIFY.get(event.kind)
        if self.notify_channel is None or kind is None:
            return []
        release = event.release
        return [Outgoing(
            "post", self.notify_channel,
            render.release_notify_line(kind, release, link=refs.LINK_SLOT),
            ref=refs.release_line(release.id, kind), link=refs.release_parent(release.id),
            unlinked=render.release_notify_line(kind, release, link=None),
        )]  # fmt: skip


@dataclass(frozen=True)
class _Thread:
    channel: str
    release: Release

    @property
    def parent(self) -> str:
        return refs.release_parent(self.release.id)

    def reply(self, message: render.Message, *, ref: str, link: str | None = None,
              unlinked: render.Message | None = None) -> Outgoing:
        return Outgoing("post", self.channel, message, ref=ref, thread=self.parent, link=link,
                        unlinked=unlinked)
