"""The outbox's sender: one row at a time, each channel in order and at Slack's pace.

A person's App Home tab is a channel of its own here (its rows' `channel` is their user
ID), so it is published at most once per `min_interval` too, and only the newest view
still queued goes out.

Every channel has its own queue (the oldest pending row goes first) and its own clock: a
message, an edit, a 429's Retry-After or a server error's backoff moves that channel's next
slot, and other channels go on meanwhile. A row waits while a message it needs (the
thread's parent, the message it edits, the message a notify line links to) is still on its
way; when that message never came to be, the row goes without it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from enum import Enum
from typing import Any

from bot.slack.client import Answer, SlackCalls, Verdict
from bot.slack.outbox import Outbox, Row
from bot.slack.refs import LINK_SLOT

log = logging.getLogger(__name__)

FALLBACK_CHARS = 3000  # a plain-text stand-in for a refused message stays readable


class Pacer:
    """When each channel may have its next call: at most one message per `min_interval`,
    Slack's Retry-After honoured, failures backed off exponentially up to `retry_cap`."""

    def __init__(
        self,
        min_interval: float,
        *,
        retry_base: float = 0.5,
        retry_cap: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_interval = min_interval
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self._clock = clock
        self._due: dict[str, float] = {}
        self._failures: dict[str, int] = {}

    def now(self) -> float:
        return self._clock()

    def due(self, channel: str) -> float:
        return self._due.get(channel, -math.inf)

    def spent(self, channel: str) -> None:
        """A message or edit went out (or was answered): the next waits `min_interval`.
        Counted from the answer, so Slack never sees two closer together than that."""
        self._failures.pop(channel, None)
        self._due[channel] = self._clock() + self.min_interval

    def seed(self, channel: str, *, last_sent: float | None) -> None:
        """Carry over the pace of an earlier run: `last_sent` is the wall-clock time of the
        channel's last message, as the journal recorded it."""
        if channel in self._due or last_sent is None:
            return
        left = last_sent + self.min_interval - time.time()
        if left > 0:
            self._due[channel] = self._clock() + left

    def hold(self, channel: str, seconds: float) -> None:
        self._due[channel] = self._clock() + max(seconds, self.min_interval)

    def backoff(self, channel: str) -> float:
        count = self._failures.get(channel, 0)
        self._failures[channel] = count + 1
        delay = min(self.retry_cap, self.retry_base * 2.0**count)
        self.hold(channel, delay)
        return delay


class _Blocked(Enum):
    WAIT = "wait"  # a message this row needs is still pending


def fallback_text(text: str) -> str:
    return text if len(text) <= FALLBACK_CHARS else text[: FALLBACK_CHARS - 1] + "…"


def _fill(value: Any, link: str) -> Any:
    """The notify line's link slot replaced by the thread's permalink, in text or blocks."""
    if isinstance(value, str):
        return value.replace(LINK_SLOT, link)
    if isinstance(value, list):
        return [_fill(v, link) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, link) for k, v in value.items()}
    return value


class Sender:
    """Sends the rows of an :class:`Outbox` through :class:`SlackCalls`."""

    def __init__(self, outbox: Outbox, calls: SlackCalls, pacer: Pacer) -> None:
        self.outbox = outbox
        self.calls = calls
        self.pacer = pacer
        self._seeded: set[str] = set()

    def step(self) -> float:
        """Handle one row whose channel is due; 0 when one was handled, else how long
        until a channel is due (inf when nothing can go until something changes)."""
        heads = self.outbox.heads()
        for row in heads:
            if row.channel not in self._seeded:
                self.pacer.seed(row.channel, last_sent=self.outbox.last_sent(row.channel))
                self._seeded.add(row.channel)
        now = self.pacer.now()
        heads.sort(key=lambda r: (self.pacer.due(r.channel), r.id))
        wait = math.inf
        for row in heads:
            due = self.pacer.due(row.channel)
            if due > now:
                wait = min(wait, due - now)
                continue
            if self._handle(row) is not _Blocked.WAIT:
                return 0.0
        return wait

    def _handle(self, row: Row) -> _Blocked | None:
        if row.link and self.outbox.behind(row):
            # Stakeholders are never ahead of the thread: a notify line goes out after
            # every message of its rollout queued before it, whatever each channel's pace.
            return _Blocked.WAIT
        thread_ts: str | None = None
        if row.thread:
            state, parent = self.outbox.ref_state(row.thread)
            if state == "pending":
                return _Blocked.WAIT
            thread_ts = parent.ts if parent else None
        text, blocks = row.text, row.blocks
        if row.link:
            link = self._permalink(row)
            if not isinstance(link, str):
                return link
            text, blocks = _fill(text, link), _fill(blocks, link)
        if row.op == "update":
            return self._update(row, text=text, blocks=blocks)
        if row.op == "view":
            self.outbox.attempting(row)
            self._settle(row, self.calls.publish_home(row.channel, text=text, blocks=blocks))
            return None
        if row.op == "upload":
            self._upload(row, thread_ts=thread_ts)
            return None
        self._post(row, text=text, blocks=blocks, thread_ts=thread_ts)
        return None

    def _permalink(self, row: Row) -> str | _Blocked | None:
        """The link a notify line needs; WAIT while the parent is pending, None when the row
        was handled otherwise (sent on without the link, or put off after an error)."""
        assert row.link is not None
        state, ref = self.outbox.ref_state(row.link)
        if state == "pending":
            return _Blocked.WAIT
        if ref is None:
            self.outbox.drop_link(row)
            return None
        if ref.permalink:
            return ref.permalink
        answer = self.calls.permalink(ref.channel, ref.ts)
        if answer.ok and answer.value:
            self.outbox.set_permalink(ref.name, answer.value)
            return answer.value
        if answer.verdict in {Verdict.RATE_LIMITED, Verdict.TRANSIENT}:
            self._retry_later(row, answer, cleared=False)
        else:
            log.warning("no permalink for %s (%s): notify line sent without it", ref.name, answer)
            self.outbox.drop_link(row)
        return None

    def _update(
        self, row: Row, *, text: str, blocks: list[dict[str, Any]] | None
    ) -> _Blocked | None:
        assert row.ref is not None
        state, target = self.outbox.ref_state(row.ref)
        if state == "pending":
            return _Blocked.WAIT
        if target is None:
            log.warning("edit of %s dropped: that message was never posted", row.ref)
            self.outbox.failed(row, error="the message to edit was never posted")
            return None
        self.outbox.attempting(row)
        answer = self.calls.update(target.channel, target.ts, text=text, blocks=blocks)
        self._settle(row, answer)
        return None

    def _post(
        self, row: Row, *, text: str, blocks: list[dict[str, Any]] | None, thread_ts: str | None
    ) -> None:
        if row.unsure and self._found_earlier(row, thread_ts=thread_ts):
            return
        self.outbox.attempting(row)
        answer = self.calls.post(
            row.channel,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            key=row.key,
            broadcast=row.broadcast,
        )
        self._settle(row, answer)

    def _upload(self, row: Row, *, thread_ts: str | None) -> None:
        assert row.upload is not None
        if row.unsure and row.file_id and self._found_earlier(row, thread_ts=thread_ts):
            return
        self.outbox.attempting(row)
        answer = self.calls.upload(
            row.channel, path=row.upload.path, filename=row.upload.filename,
            title=row.upload.title, comment=row.text, thread_ts=thread_ts,
            noted=lambda file_id: self.outbox.note_file(row, file_id),
        )  # fmt: skip
        self._settle(row, answer)

    def _found_earlier(self, row: Row, *, thread_ts: str | None) -> bool:
        """An earlier attempt may have posted it, or shared its file (crash, lost answer):
        look before sending. True when the row is settled or must wait; False to send now."""
        found = self.calls.find_posted(
            row.channel, key=row.key, thread_ts=thread_ts, since=row.created_at,
            file_id=row.file_id if row.op == "upload" else None,
        )
        if found.ok and found.value:
            log.info("outbox row %s was already posted (ts %s)", row.id, found.value)
            self.outbox.sent(row, ts=found.value)
            return True
        if found.verdict in {Verdict.RATE_LIMITED, Verdict.TRANSIENT}:
            self._retry_later(row, found, cleared=False)
            return True
        if not found.ok:
            log.warning(
                "cannot check whether outbox row %s was posted (%s); posting it",
                row.id,
                found.error,
            )
        return False

    def _settle(self, row: Row, answer: Answer) -> None:
        channel = row.channel
        if answer.ok:
            assert answer.value is not None
            self.outbox.sent(row, ts=answer.value)
            self.pacer.spent(channel)
        elif answer.verdict in {Verdict.RATE_LIMITED, Verdict.TRANSIENT}:
            self._retry_later(row, answer, cleared=True)
        elif answer.verdict is Verdict.REFUSED and not row.fallback:
            log.warning(
                "Slack refused outbox row %s (%s); sending it as plain text", row.id, answer.error
            )
            self.outbox.fall_back(row, text=fallback_text(row.text), error=answer.error)
            self.pacer.spent(channel)
        else:
            log.error("outbox row %s failed for good: %s", row.id, answer.error)
            self.outbox.failed(row, error=answer.error)
            self.pacer.spent(channel)

    def _retry_later(self, row: Row, answer: Answer, *, cleared: bool) -> None:
        """Try the row again later. `cleared`: this answer was to the row's own call, so a
        429 proves it was not posted and no look-up is needed before the next attempt."""
        if answer.verdict is Verdict.RATE_LIMITED:
            if cleared:
                self.outbox.not_sent(row, error=answer.error)
            self.pacer.hold(row.channel, answer.retry_after)
            return
        self.outbox.note_error(row, error=answer.error)
        delay = self.pacer.backoff(row.channel)
        log.info("outbox row %s: %s; again in %.1fs", row.id, answer.error, delay)
