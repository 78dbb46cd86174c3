"""What both faces say when a rollout ends (or stops for a person), read as people read it.

Given a real rollout over the simulated cluster that ends in one of its final states
(completed, paused by a failure, rolled back automatically, rejected, expired, cancelled),
when its events reach the Slack stand-in through the real delivery and the terminal's
printer, then the thread, the parent message, the notify line and the printed lines all
tell the same story, counted from the same per-tenant outcomes: a batch that failed never
reads "all healthy", nothing offers choices for a rollout that rolls back by itself, and
the counts of the summary are the batch results added up.

Kubernetes calls that had to be tried again after an API error are named in the summary
on both faces; with no such errors, nothing is said about them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.plain import plain
from bot.terminal.printer import Printer
from rollout.model import EventKind, InboxItem, Phase, Retries, Rollout, TargetStatus
from sim.slack import SlackHandle, start_slack
from tests.adapters.slack_delivery_support import NOTIFY, deliver, parent_of, replies
from tests.scenarios.conftest import MakeWorld, World

NEW = "v1.3.0"
TENANTS = 6  # two pilots, then two batches of two


@dataclass(frozen=True)
class Faces:
    """What a person sees of one rollout: Slack's thread, parent and notify lines, and the
    terminal's printed lines (without time stamps)."""

    thread: list[str]
    parent: str
    notify: list[str]
    terminal: str

    def everywhere(self) -> str:
        return "\n".join([*self.thread, self.parent, *self.notify, self.terminal])


@pytest.fixture
def slack() -> Iterator[SlackHandle]:
    with start_slack(usergroups={"S0LEADS": ["U0BOB"]}) as handle:
        yield handle


def faces(world: World, rollout_id: int, slack: SlackHandle, db: Path) -> Faces:
    """Hand the rollout's events, as the engine published them, to the Slack delivery
    (over HTTP to the stand-in) and to the terminal's printer."""
    events = [e for e in world.listener.events if e.rollout.id == rollout_id]
    deliver(slack, db, events, approvers=("U0BOB",))
    out = io.StringIO()
    printer = Printer(out, live=False)
    for event in events:
        printer.publish(event)
    printer.finish()
    printed = "\n".join(line[10:] for line in out.getvalue().splitlines())
    return Faces(
        thread=[m.text for m in replies(slack)],
        parent=parent_of(slack).text,
        notify=[m.text for m in slack.messages(NOTIFY)],
        terminal=printed,
    )


def summary_counts(text: str) -> tuple[int, int, int, int]:
    """(updated, failed, skipped, rolled back) from a summary's count line."""
    found = re.search(r"(\d+) updated · (\d+) failed · (\d+) skipped · (\d+) rolled back", text)
    assert found is not None, text
    updated, failed, skipped, back = (int(n) for n in found.groups())
    return updated, failed, skipped, back


def batch_heads(text: str) -> list[str]:
    return re.findall(r"^[✅❌] \*?(?:Pilots|Batch \d+ of \d+)\*? — .*$", text, re.MULTILINE)


def assert_one_story(seen: Faces) -> None:
    """Slack and the terminal print the same batch results and the same summary."""
    thread = "\n".join(seen.thread)
    assert [plain(h) for h in batch_heads(thread)] == batch_heads(seen.terminal)
    assert "Traceback" not in seen.terminal


def test_a_completed_rollout_sums_up_its_batches(
    make_world: MakeWorld, slack: SlackHandle, tmp_path: Path
) -> None:
    # Given a rollout that goes through without trouble
    world = make_world(tenants=TENANTS, batch_size=2)
    final = world.follow(world.start().id)
    assert final.phase is Phase.COMPLETED
    # When both faces show it
    seen = faces(world, final.id, slack, tmp_path / "slack.db")
    # Then every batch is healthy, the summary adds them up, and no retries are mentioned
    assert_one_story(seen)
    heads = batch_heads(seen.terminal)
    assert heads == [
        "✅ Pilots — 2/2 updated, all healthy" + heads[0].split("all healthy")[1],
        "✅ Batch 1 of 2 — 2/2 updated, all healthy" + heads[1].split("all healthy")[1],
        "✅ Batch 2 of 2 — 2/2 updated, all healthy" + heads[2].split("all healthy")[1],
    ]
    assert summary_counts(seen.thread[-1]) == (6, 0, 0, 0)
    assert summary_counts(seen.terminal) == (6, 0, 0, 0)
    assert "6 updated · 0 failed · 0 left" in seen.parent
    assert "completed: 6 tenants updated" in seen.notify[-1]
    assert "retried" not in seen.everywhere()


def test_failed_pilots_pause_with_choices_on_both_faces(
    make_world: MakeWorld, slack: SlackHandle, tmp_path: Path
) -> None:
    # Given pilots whose new version answers its health check with an error
    world = make_world(tenants=TENANTS, batch_size=2, rollout_timeout_seconds=3)
    world.sim.set_behaviour("*", NEW, "unhealthy")
    rid = world.start().id
    paused = world.follow(rid, until=lambda r: r.phase is Phase.PAUSED)
    world.listener.wait_for(EventKind.FAILED)
    # When both faces show it
    seen = faces(world, rid, slack, tmp_path / "slack.db")
    # Then the pilots' result, the choices, the parent and the notify line agree: 2 failed
    assert_one_story(seen)
    assert batch_heads(seen.terminal)[0].startswith("❌ Pilots — 0/2 updated, 2 failed")
    choices = f"❌ 2 tenants failed in pilots. Rollout #{rid} is paused. What next?"
    assert choices in seen.terminal
    assert any(plain(text).startswith(choices) for text in seen.thread)
    assert "0 updated · 2 failed · 4 left" in seen.parent
    failed = sorted(t.namespace for t in paused.batch(0))
    assert seen.notify[-1].startswith(f"❌ isp {NEW} rollout #{rid} failed: {failed[0]}: ")
    assert failed[1] in seen.notify[-1]
    assert paused.phase is Phase.PAUSED


def test_an_automatic_roll_back_says_what_failed_and_offers_no_choices(
    make_world: MakeWorld, slack: SlackHandle, tmp_path: Path
) -> None:
    # Given auto_rollback and pilots whose new version is unhealthy
    world = make_world(tenants=TENANTS, batch_size=2, auto_rollback=True)
    world.sim.set_behaviour("*", NEW, "unhealthy")
    final = world.follow(world.start().id)
    assert final.phase is Phase.ROLLED_BACK
    # When both faces show it
    seen = faces(world, final.id, slack, tmp_path / "slack.db")
    # Then the pilots' result says they failed, nothing says the rollout is paused,
    # and the summary still counts the two failures it rolled back
    assert_one_story(seen)
    everywhere = seen.everywhere()
    assert "all healthy" not in everywhere
    assert "0 tenants failed" not in everywhere
    assert "What next?" not in everywhere and "is paused" not in everywhere
    assert batch_heads(seen.terminal)[0].startswith("❌ Pilots — 0/2 updated, 2 failed")
    assert summary_counts(seen.thread[-1]) == (0, 2, 0, 2)
    assert summary_counts(seen.terminal) == (0, 2, 0, 2)
    assert "Rolling back #1 automatically" in plain(everywhere)
    assert "0 updated · 2 failed · 4 not started · 2 rolled back" in seen.parent
    # And stakeholders hear which tenants failed, then that it was rolled back by itself
    failed, rolled_back = seen.notify[-2:]
    names = sorted(t.namespace for t in final.batch(0))
    assert failed.startswith(f"❌ isp {NEW} rollout #{final.id} failed: {names[0]}: ")
    assert "rolled back automatically" not in failed
    assert rolled_back.startswith(
        f"↩️ isp {NEW} rollout #{final.id} was rolled back automatically: {names[0]}: "
    )
    assert all(t.status is TargetStatus.ROLLED_BACK for t in final.batch(0))


def test_a_failed_blue_green_side_rolls_back_without_offering_choices(
    make_world: MakeWorld, slack: SlackHandle, tmp_path: Path
) -> None:
    # Given a new admin side that answers its health check with an error
    world = make_world(tenants=2)
    world.sim.set_behaviour("platform-admin", NEW, "unhealthy")
    final = world.follow(world.start(app="admin").id)
    assert final.phase is Phase.ROLLED_BACK
    # When both faces show it
    seen = faces(world, final.id, slack, tmp_path / "slack.db")
    # Then both say it rolls back by itself, and why, and neither offers a choice
    notice = f"↩️ Rolling back #{final.id} automatically: the new side failed"
    assert notice in seen.terminal and notice in plain(seen.thread[0])
    assert "/api/health answered 500" in seen.thread[0]
    assert "What next?" not in seen.everywhere() and "rollbot resume" not in seen.terminal
    assert summary_counts(seen.thread[-1]) == summary_counts(seen.terminal) == (0, 1, 0, 1)


def test_a_rejected_rollout_counts_the_pilots_it_rolled_back(
    make_world: MakeWorld, slack: SlackHandle, tmp_path: Path
) -> None:
    # Given healthy pilots at the approval gate
    world = make_world(tenants=TENANTS, batch_size=2, approval=True)
    rid = world.start().id
    at_gate = world.follow(rid, until=lambda r: r.phase is Phase.AWAITING_APPROVAL)
    # When an approver rejects it, and both faces show the result
    world.store.enqueue(InboxItem(rid, "reject", "U0BOB", at_gate.created_at))
    final = world.follow(rid)
    assert final.phase is Phase.ROLLED_BACK
    seen = faces(world, rid, slack, tmp_path / "slack.db")
    # Then the pilots read as updated then rolled back, and nothing failed
    assert_one_story(seen)
    assert batch_heads(seen.terminal) == [batch_heads(seen.terminal)[0]]
    assert batch_heads(seen.terminal)[0].startswith("✅ Pilots — 2/2 updated, all healthy")
    assert summary_counts(seen.thread[-1]) == (2, 0, 0, 2)
    assert summary_counts(seen.terminal) == (2, 0, 0, 2)
    assert "Reason: rejected by @U0BOB" in plain(seen.thread[-1])
    assert "Rolling back" not in plain(seen.everywhere())  # a person did it, and it says who


def test_an_expired_gate_leaves_the_pilots_updated_and_says_so(
    make_world: MakeWorld, slack: SlackHandle, tmp_path: Path
) -> None:
    # Given a gate nobody answers within its timeout
    world = make_world(tenants=TENANTS, batch_size=2, approval=True, approval_timeout_seconds=1)
    final = world.follow(world.start().id)
    assert final.phase is Phase.EXPIRED
    # When both faces show it
    seen = faces(world, final.id, slack, tmp_path / "slack.db")
    # Then the summary counts the two pilots updated and the rest never started
    assert_one_story(seen)
    assert summary_counts(seen.thread[-1]) == (2, 0, 0, 0)
    assert summary_counts(seen.terminal) == (2, 0, 0, 0)
    assert "4 not started" in seen.thread[-1]
    assert "expired waiting for approval" in seen.notify[-1]


def test_a_cancelled_rollout_says_what_it_changed_before_it_stopped(
    make_world: MakeWorld, slack: SlackHandle, tmp_path: Path
) -> None:
    # Given a rollout waiting at its gate after healthy pilots
    world = make_world(tenants=TENANTS, batch_size=2, approval=True)
    rid = world.start().id
    at_gate = world.follow(rid, until=lambda r: r.phase is Phase.AWAITING_APPROVAL)
    # When its requester cancels it, and both faces show the result
    world.store.enqueue(InboxItem(rid, "cancel", "U0ALICE", at_gate.created_at))
    final = world.follow(rid)
    assert final.phase is Phase.CANCELLED
    seen = faces(world, rid, slack, tmp_path / "slack.db")
    # Then both say it was cancelled with the pilots updated and the rest not started
    assert_one_story(seen)
    assert summary_counts(seen.thread[-1]) == (2, 0, 0, 0)
    assert summary_counts(seen.terminal) == (2, 0, 0, 0)
    assert "4 not started" in seen.thread[-1] and "4 not started" in seen.terminal
    assert "cancelled" in seen.notify[-1]


def summary_of(rollout: Rollout, seen: Faces) -> str:
    heads = [t for t in seen.thread if f"(#{rollout.id})" in t]
    assert heads, seen.thread
    return heads[-1]


def test_kubernetes_calls_retried_after_api_errors_are_named_in_the_summary(
    make_world: MakeWorld, slack: SlackHandle, tmp_path: Path
) -> None:
    # Given an API server that answers one read and two patches of deployments with a 500
    world = make_world(tenants=TENANTS, batch_size=2)
    first, second = world.tenants[0], world.tenants[3]
    for namespace, method in ((first, "PATCH"), (second, "PATCH"), (second, "GET")):
        path = f"/namespaces/{namespace}/deployments/isp-ops-app$"
        world.sim.add_fault(method=method, verb="*", path=path, times=1, retry_after=0)
    # When a rollout goes through it
    final = world.follow(world.start().id)
    assert final.phase is Phase.COMPLETED
    seen = faces(world, final.id, slack, tmp_path / "slack.db")
    # Then it completes, and both summaries say how many calls were retried, and of what
    assert world.sim.call(lambda: [f.fired for f in world.sim.sim.faults.rules]) == [1, 1, 1]
    line = "3 Kubernetes calls were retried (2 patches, 1 read) after API errors."
    assert line in plain(summary_of(final, seen))
    assert line in seen.terminal
    assert summary_counts(seen.terminal) == (6, 0, 0, 0)
    # And the journal keeps the count, so a resumed rollout still knows it
    stored = world.store.get(final.id)
    assert stored is not None and stored.retries == Retries.of({"patch": 2, "read": 1})


def test_two_rollouts_at_once_each_count_only_their_own_retried_calls(
    make_world: MakeWorld,
) -> None:
    # Given an API server that fails the first patch of three tenants' deployments
    world = make_world(tenants=TENANTS, batch_size=2)
    for namespace in world.tenants[:3]:
        path = f"/namespaces/{namespace}/deployments/"
        world.sim.add_fault(method="PATCH", path=path, times=1, retry_after=0)
    # When the rolling isp app and the blue-green admin app roll out at the same time
    isp = world.start()
    admin = world.start(app="admin")
    isp_done, admin_done = world.follow(isp.id), world.follow(admin.id)
    # Then the isp rollout counts the three retried patches, and the admin rollout none
    assert isp_done.phase is Phase.COMPLETED and admin_done.phase is Phase.COMPLETED
    assert world.sim.call(lambda: [f.fired for f in world.sim.sim.faults.rules]) == [1, 1, 1]
    assert isp_done.retries == Retries.of({"patch": 3})
    assert admin_done.retries == Retries()


def test_each_decision_is_told_once_on_each_face(
    make_world: MakeWorld, slack: SlackHandle, tmp_path: Path
) -> None:
    # Given a rollout whose last tenant fails on the new version, past an approval gate
    world = make_world(tenants=TENANTS, batch_size=2, approval=True, rollout_timeout_seconds=3)
    world.sim.set_behaviour(world.tenants[-1], NEW, "unhealthy")
    rid = world.start().id
    gated = world.follow(rid, until=lambda r: r.phase is Phase.AWAITING_APPROVAL)

    # When Bob approves it, it fails, Alice rolls it back, and both faces show it
    world.store.enqueue(InboxItem(rid, "approve", "U0BOB", gated.created_at))
    paused = world.follow(rid, until=lambda r: r.phase is Phase.PAUSED)
    world.store.enqueue(InboxItem(rid, "rollback", "U0ALICE", paused.created_at))
    assert world.follow(rid).phase is Phase.ROLLED_BACK
    seen = faces(world, rid, slack, tmp_path / "slack.db")

    # Then the edited approval request and choices say who decided, and no reply echoes them
    thread = "\n".join(seen.thread)
    assert thread.count("Approved by <@U0BOB>") == 1
    assert thread.count("Roll back chosen by <@U0ALICE>") == 1
    assert "<@U0BOB> approved" not in thread
    assert "<@U0ALICE> started a roll back" not in thread
    # and the terminal says who rolled it back once
    assert "rolling back: rolled back by" not in seen.terminal
    assert f"#{rid} is rolling back, as U0ALICE asked" in seen.terminal
