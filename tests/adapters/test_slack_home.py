"""The App Home board over a real journal and delivery, sending to the Slack stand-in.

Rollout events are published as an engine would (the rollout saved first); what is checked
is what the stand-in received: whose tabs were drawn, how often, and with what.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.slack import SlackDelivery
from bot.slack.home import HomeBoard
from bot.store import SqliteStore
from rollout.model import AppSpec, EventKind, Phase, Rollout, RolloutEvent, Settings, Strategy
from rollout.release import Release, ReleaseEvent, ReleaseEventKind, plan_steps, started
from sim.slack import FaultKind, SlackHandle, start_slack
from tests.adapters.slack_delivery_support import WAIT, make_delivery
from tests.builders import make_rollout, planned_targets

PACE = 0.3  # seconds between two views of one person's tab, as the delivery is set up here
ISP = AppSpec(name="isp", strategy=Strategy.ROLLING, image="repo/isp", deployment="isp",
              container="app", settings=Settings(), deployers=("U0ALICE",))


@pytest.fixture
def slack() -> Iterator[SlackHandle]:
    with start_slack() as handle:
        yield handle


@pytest.fixture
def parts(
    slack: SlackHandle, tmp_path: Path
) -> Iterator[tuple[SqliteStore, SlackDelivery, HomeBoard]]:
    store = SqliteStore(tmp_path / "rollbot.db")
    delivery = make_delivery(slack, tmp_path / "rollbot.db", min_interval=PACE)
    board = HomeBoard(outlet=delivery, apps={"isp": ISP}, now=lambda: datetime.now(UTC))
    board.attach(store, None)
    delivery.start()
    try:
        yield store, delivery, board
    finally:
        delivery.close()
        store.close()


def told(store: SqliteStore, board: HomeBoard, rollout: Rollout, kind: EventKind) -> Rollout:
    """Save the rollout, then tell the board, as the engine does."""
    saved = store.save(rollout)
    board.publish(RolloutEvent(kind, saved, datetime.now(UTC)))
    return saved


def running(store: SqliteStore) -> Rollout:
    targets = planned_targets({f"tenant-{i}": 1 for i in range(4)})
    return store.create_rollout(make_rollout(id=0, phase=Phase.BATCH, current_batch=1,
                                             batch_count=1, targets=targets))


def test_a_burst_of_phase_changes_draws_each_viewer_at_the_pace_with_the_newest(
    slack: SlackHandle, parts: tuple[SqliteStore, SlackDelivery, HomeBoard]
) -> None:
    store, delivery, board = parts
    # Given Alice has the Home tab open on a rollout in its batch
    rollout = running(store)
    board.opened("U0ALICE", frozenset())
    assert delivery.flush(WAIT)
    # When the rollout changes phase twenty times in a burst, ending paused
    began = time.monotonic()
    for i in range(20):
        phase = Phase.PAUSED if i % 2 else Phase.BATCH
        rollout = told(store, board, replace(rollout, phase=phase), EventKind.PROGRESS)
    burst = time.monotonic() - began
    assert delivery.flush(WAIT)
    # Then her tab was published once per pace at most (the opening, then what the burst
    # left), never closer together than the pace, and ends paused
    calls = [c for c in slack.calls("views.publish") if c.args.get("user_id") == "U0ALICE"]
    assert 2 <= len(calls) <= 2 + burst / PACE, (len(calls), burst)
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    assert all(gap >= PACE * 0.9 for gap in gaps), gaps
    home = slack.home("U0ALICE")
    assert home is not None and "*Paused*" in str(home.blocks)


def test_tenant_events_that_change_no_phase_draw_nothing(
    slack: SlackHandle, parts: tuple[SqliteStore, SlackDelivery, HomeBoard]
) -> None:
    store, delivery, board = parts
    # Given Alice's tab drawn on a rollout in its batch
    rollout = running(store)
    rollout = told(store, board, rollout, EventKind.STARTED)
    board.opened("U0ALICE", frozenset())
    assert delivery.flush(WAIT)
    drawn = len(slack.calls("views.publish"))
    # When tenants finish one by one in the same phase
    for _ in range(5):
        rollout = told(store, board, rollout, EventKind.PROGRESS)
    assert delivery.flush(WAIT)
    # Then her tab was not drawn again, and nobody else's ever was
    assert len(slack.calls("views.publish")) == drawn == 1
    assert slack.home("U0BOB") is None


def test_a_tab_slack_was_too_busy_for_is_published_after_retry_after(
    slack: SlackHandle, parts: tuple[SqliteStore, SlackDelivery, HomeBoard]
) -> None:
    store, delivery, board = parts
    # Given Slack answers the first views.publish with a 429
    slack.add_fault("views.publish", FaultKind.RATE_LIMITED, retry_after=1, times=1)
    running(store)
    # When Alice opens the tab
    board.opened("U0ALICE", frozenset())
    # Then her tab is there once Slack takes it, the 429's Retry-After waited out
    assert delivery.flush(WAIT)
    calls = slack.calls("views.publish")
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.9
    home = slack.home("U0ALICE")
    assert home is not None and "rollout #1" in str(home.blocks)
    assert delivery.outbox_counts() == {"sent": 1}


def test_a_release_step_that_starts_draws_the_tab_again_and_a_repeat_does_not(
    slack: SlackHandle, parts: tuple[SqliteStore, SlackDelivery, HomeBoard]
) -> None:
    _, delivery, board = parts
    # Given Alice's tab drawn, and a release that has just begun
    board.opened("U0ALICE", frozenset())
    release = Release(id=1, version="v1.4.0", apps=("isp",), requested_by="U0DAVE",
                      created_at=datetime.now(UTC), steps=plan_steps(("isp",), build_only=False))
    board.publish_release(ReleaseEvent(ReleaseEventKind.STARTED, release))
    assert delivery.flush(WAIT)
    drawn = len(slack.calls("views.publish"))
    # When its first step starts, and the same event is told again
    going = started(release, "preflight", now=datetime.now(UTC))
    board.publish_release(ReleaseEvent(ReleaseEventKind.STEP_STARTED, going))
    board.publish_release(ReleaseEvent(ReleaseEventKind.STEP_STARTED, going))
    assert delivery.flush(WAIT)
    # Then the tab was drawn once more: the release is "running" throughout, its steps move
    assert len(slack.calls("views.publish")) == drawn + 1
