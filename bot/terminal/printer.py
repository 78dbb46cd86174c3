"""The live progress display of a foreground rollout: the Slack conversation, as lines.

A :class:`Printer` is one more engine Listener. It prints the same messages Slack shows
(rendered by :mod:`handlers.render`, so both faces word things alike), stamped with the
local time, plus a progress line whenever the phase or the counts change. On a terminal
the progress line is redrawn in place; into a file or pipe every change is its own line,
so a log of a foreground rollout reads top to bottom.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TextIO, TypeVar

from bot.plain import plain
from bot.terminal.fold import fold
from handlers import render
from rollout.model import EventKind, Phase, Rollout, RolloutEvent

T = TypeVar("T")

_SUMMARY_KINDS = frozenset({EventKind.COMPLETED, EventKind.CANCELLED, EventKind.EXPIRED})
_CLEAR_LINE = "\r\x1b[2K"


def progress_line(rollout: Rollout) -> str:
    """`#7 isp v1.3.0 ▓▓▓░░░ 12/30 · batch 3 of 6 · 12 updated · 0 failed · 18 left`, the
    bar and its count as the parent message in Slack has them (none in preflight)."""
    progress = render.progress_of(rollout)
    bar = ""
    if progress is not None and progress.total:
        bar = f" {render.progress_bar(progress.done, progress.total)} {progress.count}"
    return (
        f"#{rollout.id} {render.title(rollout)}{bar} · "
        f"{render.phase_line(rollout)} · {render.counts_line(rollout)}"
    )


def event_text(event: RolloutEvent) -> str:
    """What a person should read about one event; "" for events only Slack cares about."""
    r = event.rollout
    kind = event.kind
    if kind is EventKind.BATCH_DONE and event.batch is not None:
        return render.batch_result_message(r, event.batch).text
    if kind is EventKind.AWAITING_APPROVAL:
        return (
            f"✋ #{r.id} is waiting for approval. From another terminal:\n"
            f"rollbot approve {r.id} --as <USER>   or   rollbot reject {r.id} --as <USER>"
        )
    if kind is EventKind.FAILED:
        return _failed(event)
    if kind is EventKind.REFUSED:
        return render.refused(r.app, r.version, event.problems, user=r.requested_by).text
    if kind is EventKind.ROLLING_BACK and event.user is None:
        return render.auto_rollback_notice(r).text
    if kind is EventKind.ROLLING_BACK:
        return _rolling_back(event)
    if kind is EventKind.ROLLED_BACK:
        return render.rollback_result(r).text + "\n" + render.summary(r).text
    if kind in _SUMMARY_KINDS:
        return render.summary(r).text
    if kind is EventKind.SWITCHED:
        return render.blue_green_switched(r).text
    if kind is EventKind.OLD_REMOVED:
        return render.old_removed(r).text
    if kind is EventKind.STARTED and r.phase is Phase.PREFLIGHT:
        # Not started yet: preflight may still refuse it, and then it never starts.
        return f"🔎 #{r.id} {r.app} {r.version}: preflight checks, asked by {r.requested_by}"
    if kind is EventKind.PLANNED:
        # The plan is printed by the verb itself, once; this says it really began.
        return f"🚀 #{r.id} started by {r.requested_by}"
    if kind is EventKind.PROGRESS:
        return f"⚠️ #{r.id}: {event.detail}" if event.problems else ""
    who = f" by {event.user}" if event.user else ""
    detail = f": {event.detail}" if event.detail else ""
    return f"#{r.id} {kind.value.replace('-', ' ')}{who}{detail}"


def _rolling_back(event: RolloutEvent) -> str:
    """Who asked for the roll back, said once: the detail adds only what it says beyond
    "rolled back by <who>" (which tenants, why)."""
    r, detail = event.rollout, event.detail or event.rollout.reason
    if detail.startswith("rolled back by"):
        detail = ""
    asked = f", as {event.user} asked" if event.user else ""
    return f"↩️ #{r.id} is rolling back{asked}" + (f": {detail}" if detail else "")


def _failed(event: RolloutEvent) -> str:
    """The choices after a failure, as Slack offers them; nothing when the rollout rolls
    back by itself instead (the rolling-back notice that follows says what failed)."""
    r = event.rollout
    if r.phase is not Phase.PAUSED:
        return ""
    if event.batch is not None:
        return render.failure_choices(r, event.batch).text + _choices(r.id)
    return f"❌ #{r.id} stopped: {event.detail or r.reason}" + _choices(r.id)


def _choices(rollout_id: int) -> str:
    return (
        "\nChoose from another terminal (or after this one exits):\n"
        f"  rollbot rollback {rollout_id}        roll back every changed tenant\n"
        f"  rollbot resume {rollout_id} --retry  update the failed tenants again\n"
        f"  rollbot resume {rollout_id} --skip   leave them and carry on"
    )


class Held(Generic[T]):
    """Items that wait for :meth:`release`, then pass straight through, each shown under
    `lock`: a verb prints its own first line (the rollout or release ID) before anything
    the engine says about it. Without `holding`, nothing waits."""

    def __init__(
        self, show: Callable[[T], None], *, lock: threading.Lock, holding: bool = True
    ) -> None:
        self._show = show
        self._lock = lock
        self._held: list[T] | None = [] if holding else None

    def put(self, item: T) -> None:
        with self._lock:
            if self._held is not None:
                self._held.append(item)
            else:
                self._show(item)

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held or [], None
            for item in held:
                self._show(item)


class Printer:
    """A Listener that prints to a terminal or a log; safe to call from any thread."""

    def __init__(
        self,
        out: TextIO = sys.stdout,
        *,
        live: bool | None = None,
        held: bool = False,
        verbose: bool = False,
    ) -> None:
        self.out = out
        self.verbose = verbose  # every tenant of every message, rather than a screenful
        self.live = out.isatty() if live is None else live
        self._lock = threading.Lock()
        self._events = Held(self._show, lock=self._lock, holding=held)
        self._last_progress: dict[int, str] = {}
        self._progress_shown = False  # a redrawable line is on screen (live mode)

    def publish(self, event: RolloutEvent) -> None:
        self._events.put(event)

    def release(self) -> None:
        """Print what was held back, then print events as they come."""
        self._events.release()

    def _show(self, event: RolloutEvent) -> None:
        progress = progress_line(event.rollout)
        text = event_text(event)
        changed = self._last_progress.get(event.rollout.id) != progress
        self._last_progress[event.rollout.id] = progress
        if text:
            self._lines(event.at, fold(plain(text), everything=self.verbose, flag="--verbose"))
        # Live, the progress line is redrawn under every message; in a log it is
        # written only when it says something new.
        if changed or (self.live and text):
            self._progress(plain(progress))
        self.out.flush()

    def say(self, text: str) -> None:
        """A line from the verb itself (not an engine event), kept apart from progress."""
        with self._lock:
            self._erase()
            self.out.write(plain(text) + "\n")
            self.out.flush()

    def finish(self) -> None:
        """Leave the last progress line on screen and move below it."""
        with self._lock:
            if self._progress_shown:
                self.out.write("\n")
                self._progress_shown = False
            self.out.flush()

    def note(self, text: str, *, at: datetime) -> None:
        """Lines about something other than a rollout (a release's steps), stamped `at`."""
        with self._lock:
            self._lines(at, plain(text))
            self.out.flush()

    def _lines(self, at: datetime, text: str) -> None:
        self._erase()
        stamp = at.astimezone().strftime("%H:%M:%S")
        for i, line in enumerate(text.splitlines()):
            self.out.write(f"{stamp if i == 0 else ' ' * len(stamp)}  {line}\n")

    def _progress(self, line: str) -> None:
        if self.live:
            self.out.write(f"{_CLEAR_LINE}{line}")
            self._progress_shown = True
        else:
            self.out.write(f"{'':8}  {line}\n")

    def _erase(self) -> None:
        if self._progress_shown:
            self.out.write(_CLEAR_LINE)
            self._progress_shown = False


def no_journal_text(path: object, *, chosen_by_env: bool) -> str:
    """Why a reading verb has nothing to read, and where it looked."""
    where = ("the file ROLLBOT_DB names" if chosen_by_env
             else "the default place; set ROLLBOT_DB to read another file")
    return (f"no journal at {path} ({where}). Nothing has been deployed with this journal "
            "yet: rollbot deploy creates it.")
