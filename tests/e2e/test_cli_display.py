"""The foreground display of `rollbot deploy`, fed engine events directly.

The end-to-end tests read the display from a file; these check what only a terminal
shows (the progress line redrawn in place) and the ordering rules (the rollout ID first,
a progress line only when it says something new), without starting any process.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime

from bot.terminal.printer import Printer, progress_line
from rollout.model import (
    EventKind,
    Phase,
    Rollout,
    RolloutEvent,
    Settings,
    Strategy,
    Target,
    TargetStatus,
)

AT = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)


def _rollout(phase: Phase = Phase.BATCH, done: int = 1) -> Rollout:
    targets = tuple(
        Target(namespace=f"tenant-{i}", batch=i,
               status=TargetStatus.UPDATED if i < done else TargetStatus.PENDING)
        for i in range(4)
    )
    return Rollout(id=7, app="isp", strategy=Strategy.ROLLING, version="v1.3.0",
                   image="registry/isp", requested_by="U0ALICE", created_at=AT,
                   settings=Settings(), phase=phase, targets=targets, batch_count=3,
                   current_batch=1)


def _event(kind: EventKind, rollout: Rollout, **extra: object) -> RolloutEvent:
    return RolloutEvent(kind=kind, rollout=rollout, at=AT, **extra)  # type: ignore[arg-type]


def test_held_events_come_after_the_verbs_first_line() -> None:
    out = io.StringIO()
    printer = Printer(out, live=False, held=True)
    printer.publish(_event(EventKind.STARTED, _rollout(Phase.PREFLIGHT), user="U0ALICE"))
    printer.say("Rollout #7: isp v1.3.0")
    assert out.getvalue() == "Rollout #7: isp v1.3.0\n"
    printer.release()
    lines = out.getvalue().splitlines()
    assert lines[0] == "Rollout #7: isp v1.3.0"
    assert "#7 isp v1.3.0: preflight checks, asked by U0ALICE" in lines[1]


def test_a_log_gets_a_progress_line_only_when_it_changes() -> None:
    out = io.StringIO()
    printer = Printer(out, live=False)
    rollout = _rollout()
    for _ in range(3):
        printer.publish(_event(EventKind.PROGRESS, rollout))
    printer.publish(_event(EventKind.PROGRESS, _rollout(done=2)))
    text = out.getvalue()
    assert text.count(progress_line(rollout)) == 1
    assert text.count("\n") == 2
    assert "\r" not in text


def test_a_terminal_redraws_the_progress_line_under_each_message() -> None:
    out = io.StringIO()
    printer = Printer(out, live=True)
    rollout = _rollout()
    printer.publish(_event(EventKind.PROGRESS, rollout))
    printer.publish(_event(EventKind.BATCH_DONE, _rollout(done=2), batch=1))
    printer.finish()
    text = out.getvalue()
    assert text.startswith("\r\x1b[2K" + progress_line(rollout))
    assert "Batch 1 of 3" in text
    assert text.endswith(progress_line(_rollout(done=2)) + "\n")


def test_a_failure_names_the_choices_in_terminal_words() -> None:
    out = io.StringIO()
    failed = _rollout(Phase.PAUSED)
    failed = failed.with_targets([replace(failed.target("tenant-1"), status=TargetStatus.FAILED,
                                          reason="/api/health answered 500")])
    Printer(out, live=False).publish(_event(EventKind.FAILED, failed, batch=1))
    text = out.getvalue()
    # The tenant by name; why it failed is its batch result's line, printed once before
    assert "❌ tenant-1" in text and "/api/health answered 500" not in text
    for choice in ("rollbot rollback 7", "rollbot resume 7 --retry", "rollbot resume 7 --skip"):
        assert choice in text
    assert "*" not in text, "Slack bold marks are stripped"
