"""A release's conversation through the Slack delivery and its outbox, against the Slack
stand-in: one parent message edited in place, a reply per finished step, a failed step's
output and whole log in the thread, links to each deploy's rollout thread, notify lines,
and nothing said twice when a restart tells the events again.

The stories are the events a release runner publishes, built from the domain's own step
functions with fixed times, so no Docker engine is needed here; the release tests in
``tests/e2e`` run the real thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.release import log_tail
from bot.slack import SlackDelivery
from bot.slack.outbox import Outbox
from rollout.model import EventKind, Phase, Rollout
from rollout.release import (
    Release,
    ReleaseEvent,
    ReleaseEventKind,
    deploy_started,
    failed,
    finished,
    plan_steps,
    started,
)
from sim.slack import FaultKind, Message, SlackHandle, start_slack
from tests.adapters.slack_delivery_support import (
    NOTIFY,
    RELEASES,
    T0,
    WAIT,
    event,
    gaps_below,
    make_delivery,
    message_times,
    rolling,
)

DIGEST = "sha256:" + "cd" * 32


@pytest.fixture
def slack() -> Iterator[SlackHandle]:
    with start_slack() as handle:
        yield handle


class Story:
    """A release, and the events told about it so far."""

    def __init__(self, logs: Path, *, build_only: bool = True) -> None:
        apps = ("admin", "isp")
        self.logs = logs
        self.release = Release(id=3, version="v1.3.1", apps=apps, requested_by="U0ALICE",
                               created_at=T0, steps=plan_steps(apps, build_only=build_only),
                               build_only=build_only)
        self.events: list[ReleaseEvent] = [ReleaseEvent(ReleaseEventKind.STARTED, self.release)]
        self.clock = 0

    def tell(self, kind: ReleaseEventKind, key: str | None = None, *,
             rollout: Rollout | None = None) -> None:
        step = self.release.step(key) if key else None
        self.events.append(ReleaseEvent(kind, self.release, step, rollout))

    def start(self, key: str) -> None:
        path = self.logs / f"{key.replace(':', '-')}.log"
        self.release = started(self.release, key, now=self._tick(), log_path=str(path))
        self.tell(ReleaseEventKind.STEP_STARTED, key)

    def finish(self, key: str, *, digest: str = "") -> None:
        self.release = finished(self.release, key, now=self._tick(), digest=digest)
        self.tell(ReleaseEventKind.STEP_FINISHED, key)

    def fail(self, key: str, reason: str, output: str = "") -> None:
        Path(self.release.step(key).log_path).write_text(output)
        self.release = failed(self.release, key, now=self._tick(), reason=reason)
        self.tell(ReleaseEventKind.STEP_FINISHED, key)

    def through_verify(self) -> None:
        for key in ("preflight", "install", "shared-build", "checks"):
            self.start(key)
            self.finish(key)
        for kind in ("image", "push", "verify"):
            for app in self.release.apps:
                self.start(f"{kind}:{app}")
            for app in self.release.apps:
                self.finish(f"{kind}:{app}", digest=DIGEST if kind == "verify" else "")
        self.tell(ReleaseEventKind.BUILT)

    def end(self, kind: ReleaseEventKind) -> None:
        self.tell(kind)

    def _tick(self) -> datetime:
        self.clock += 7
        return T0 + timedelta(seconds=self.clock)


def deliver(slack: SlackHandle, db: Path, events: list[ReleaseEvent]) -> None:
    delivery = make_delivery(slack, db, read_tail=log_tail)
    try:
        delivery.start()
        for told in events:
            delivery.publish_release(told)
        assert delivery.flush(WAIT), delivery.outbox_counts()
    finally:
        delivery.close()


def release_parent(slack: SlackHandle) -> Message:
    (parent,) = [m for m in slack.messages(RELEASES) if not m.is_reply]
    return parent


def test_a_release_is_one_checklist_message_with_a_reply_per_step_and_notify_lines(
    slack: SlackHandle, tmp_path: Path
) -> None:
    # Given a build-only release that goes through every step
    story = Story(tmp_path)
    story.through_verify()
    story.end(ReleaseEventKind.COMPLETED)
    # When its events are delivered
    deliver(slack, tmp_path / "rollbot.db", story.events)
    # Then the channel holds one message, edited to the finished checklist, without Stop
    parent = release_parent(slack)
    assert parent.edited
    assert parent.text.startswith("✅ *Release R3 v1.3.1* by <@U0ALICE>")
    assert parent.versions[0].text.startswith("📦 *Release R3 v1.3.1*")
    assert "✅ Verify isp in the registry" in parent.text
    assert not any(b["type"] == "actions" for b in parent.blocks)
    # And its thread has one reply per finished step, then the summary
    thread = [m.text for m in slack.thread(RELEASES, parent.ts)[1:]]
    assert [t.split("*")[1] for t in thread[:3]] == [
        "Preflight", "Install dependencies", "Build the shared packages"]
    assert len(thread) == 10 + 1  # ten steps of a build-only release, then the summary
    assert thread[-1].startswith("✅ *Release R3 v1.3.1* completed in")
    # And the notify channel heard started, built and completed, each linking the thread
    notify = [m.text for m in slack.messages(NOTIFY)]
    assert [line.split(" ", 1)[0] for line in notify] == ["📦", "🏗️", "✅"]
    assert all("|thread>" in line for line in notify)
    assert gaps_below(message_times(slack, RELEASES), 0.05) == []


def test_a_failed_build_step_puts_its_tail_and_its_whole_log_in_the_thread(
    slack: SlackHandle, tmp_path: Path
) -> None:
    # Given isp's image build failing after 60 lines of output
    story = Story(tmp_path)
    for key in ("preflight", "install", "shared-build"):
        story.start(key)
        story.finish(key)
    story.start("image:admin")
    story.start("image:isp")
    story.finish("image:admin")
    # (the engine's stream puts a blank line after each step; RUN output may be coloured)
    output = "".join(f"Step {i}/60 : RUN make & <check>\n\n" for i in range(1, 60))
    output += "\x1b[91mStep 60/60 : failed\x1b[0m\n\n"
    story.fail("image:isp", "The command '/bin/sh -c exit 7' returned a non-zero code: 7",
               output)
    story.end(ReleaseEventKind.FAILED)
    # When the events are delivered
    deliver(slack, tmp_path / "rollbot.db", story.events)
    # Then the thread says which step failed and why, and shows its last 30 lines
    parent = release_parent(slack)
    thread = slack.thread(RELEASES, parent.ts)[1:]
    texts = [m.text for m in thread]
    failure = next(t for t in texts if t.startswith("❌ *Build the isp image* failed"))
    assert "returned a non-zero code: 7" in failure
    tail = next(t for t in texts if t.startswith("Last 30 lines of *Build the isp image*"))
    assert "Step 31/60 : RUN make &amp; &lt;check&gt;" in tail and "Step 30/60" not in tail
    assert tail.endswith("\nStep 60/60 : failed\n```") and "\n\n" not in tail
    # And the whole log is a file shared in the thread, as Slack's upload API takes it
    (log,) = slack.files()
    assert log.content == output.encode()
    assert (log.name, log.channel, log.thread_ts) == ("R3-image-isp.log", RELEASES, parent.ts)
    assert log.shared_ts in [m.ts for m in thread]
    assert [c.method for c in slack.calls() if c.method.startswith("files.")] == [
        "files.getUploadURLExternal", "files.completeUploadExternal"]
    # And the summary and the notify line say it failed there, and nothing was pushed
    assert texts[-1].splitlines()[1:] == ["Nothing was pushed.",
                                          "Build only: nothing was deployed."]
    assert slack.messages(NOTIFY)[-1].text.startswith(
        "❌ Release R3 v1.3.1 failed at Build the isp image: The command '/bin/sh -c exit 7'")


def test_a_deploy_links_its_rollout_thread_and_the_rollout_keeps_one_parent(
    slack: SlackHandle, tmp_path: Path
) -> None:
    # Given a release whose admin deploy started rollout #7
    story = Story(tmp_path, build_only=False)
    story.through_verify()
    story.start("deploy:admin")
    rollout = replace(rolling(rollout_id=7), phase=Phase.PREFLIGHT, targets=(), batch_count=0)
    story.release = deploy_started(story.release, "deploy:admin", rollout_id=7)
    story.tell(ReleaseEventKind.DEPLOY_STARTED, "deploy:admin", rollout=rollout)
    db = tmp_path / "rollbot.db"
    delivery = make_delivery(slack, db, read_tail=log_tail)
    try:
        delivery.start()
        for told in story.events:
            delivery.publish_release(told)
        # When the rollout's own STARTED event comes after the release said it runs
        delivery.publish(event(EventKind.STARTED, rollout, 0))
        assert delivery.flush(WAIT), delivery.outbox_counts()
    finally:
        delivery.close()
    # Then the rollout has one parent message, posted before the link to it
    top = [m for m in slack.messages(RELEASES) if not m.is_reply]
    assert [m.text.split(" ")[0] for m in top] == ["📦", "🔎"]
    rollout_parent = top[1]
    # And the release thread links to that rollout's thread
    link = slack.thread(RELEASES, top[0].ts)[-1].text
    assert link.startswith("🚀 *Deploy admin* runs as rollout #7 · <http")
    assert rollout_parent.ts.replace(".", "") in link


def test_events_told_again_after_a_restart_say_nothing_twice(
    slack: SlackHandle, tmp_path: Path
) -> None:
    story = Story(tmp_path)
    for key in ("preflight", "install", "shared-build"):
        story.start(key)
        story.finish(key)
    story.start("image:admin")
    story.start("image:isp")
    story.finish("image:admin")
    story.fail("image:isp", "exit 7", "boom\n")
    story.end(ReleaseEventKind.FAILED)
    db = tmp_path / "rollbot.db"
    deliver(slack, db, story.events)
    first = [(m.text, m.ts) for m in slack.messages(RELEASES, include_replies=True)]
    deliver(slack, db, story.events)
    again = [(m.text, m.ts) for m in slack.messages(RELEASES, include_replies=True)]
    assert again == first
    assert len(slack.files()) == 1
    assert len(slack.messages(NOTIFY)) == 2  # started, failed


def test_an_upload_whose_answer_was_lost_is_found_and_not_shared_again(
    slack: SlackHandle, tmp_path: Path
) -> None:
    # Given Slack shares the log but the answer to completeUploadExternal is lost, twice
    slack.add_fault("files.completeUploadExternal", FaultKind.DROP_AFTER, first=1)
    story = Story(tmp_path)
    story.start("preflight")
    story.finish("preflight")
    story.start("install")
    story.fail("install", "`pnpm install` exited with 1", "ERR_PNPM_OUTDATED_LOCKFILE\n")
    story.end(ReleaseEventKind.FAILED)
    # When the delivery goes on
    deliver(slack, tmp_path / "rollbot.db", story.events)
    # Then the file is shared once: the share was looked up in the thread, not redone
    shared = [f for f in slack.files() if f.completed]
    assert len(shared) == 1
    assert [c.method for c in slack.calls() if c.method.startswith(("files.", "conv"))][-2:] == [
        "files.completeUploadExternal", "conversations.replies"]
    outbox = Outbox(tmp_path / "rollbot.db")
    try:
        assert set(outbox.status_counts()) == {"sent"}
    finally:
        outbox.close()
    assert [m.text for m in slack.messages(RELEASES, include_replies=True)].count(
        "The whole output of *Install dependencies*, attempt 1.") == 1


def test_a_release_outside_slack_without_a_release_channel_is_not_posted(
    slack: SlackHandle, tmp_path: Path
) -> None:
    story = Story(tmp_path)
    delivery = SlackDelivery(client=WebClient(token=slack.bot_token, base_url=slack.api_url),
                             db_path=tmp_path / "rollbot.db", release_channel=None,
                             notify_channel=NOTIFY, approvers=lambda app: ())
    try:
        delivery.start()
        for told in story.events:
            delivery.publish_release(told)
        assert delivery.flush(WAIT)
    finally:
        delivery.close()
    assert slack.messages(RELEASES) == []
