"""`SlackDelivery`: the listener that turns rollout and release events into Slack messages.

`publish` and `publish_release` only compose the messages (:mod:`bot.slack.conversation`,
:mod:`bot.slack.release_conversation`) and write them to the outbox in the journal, then
wake one worker thread, so neither the engine nor a release waits on Slack and the Slack
event loop never runs a Web API call. The worker (:mod:`bot.slack.worker`) sends them in
order per channel at Slack's pace, retries what Slack did not take, and after a restart
picks up whatever the journal still holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from slack_sdk import WebClient

from bot.slack import refs
from bot.slack.client import SlackCalls
from bot.slack.conversation import Conversation
from bot.slack.outbox import Outbox, Outgoing
from bot.slack.release_conversation import ReleaseConversation
from bot.slack.worker import Pacer, Sender
from rollout.actions import Action
from rollout.model import Rollout, RolloutEvent
from rollout.plan import ASSUMED, Pace
from rollout.release import ReleaseEvent, Step

log = logging.getLogger(__name__)

IDLE_RECHECK_SECONDS = 30.0  # a sleeping worker looks at the journal at least this often
ERROR_PAUSE_SECONDS = 1.0  # after an unexpected error, before the worker tries again
KEEP_SENT_EDITS_SECONDS = 7 * 86400.0  # sent edits are kept this long, then forgotten
PRUNE_EVERY_SECONDS = 3600.0  # how often the worker forgets old sent edits


class SlackDelivery:
    """Implements :class:`rollout.ports.Listener` and
    :class:`rollout.release.ports.ReleaseListener`. One per process and journal.

    `release_channel` (the first configured, or None) takes the rollouts and releases that
    were not asked for in a Slack channel, such as those started from a terminal.
    `read_tail` reads the last lines of a failed release step's log."""

    def __init__(
        self,
        *,
        client: WebClient,
        db_path: str | Path,
        release_channel: str | None,
        notify_channel: str | None,
        approvers: Callable[[str], Sequence[str]],
        min_interval: float = 1.0,
        retry_base: float = 0.5,
        retry_cap: float = 30.0,
        keep_sent_edits_seconds: float = KEEP_SENT_EDITS_SECONDS,
        read_tail: Callable[[Step], str] | None = None,
    ) -> None:
        self.release_channel = release_channel
        self.notify_channel = notify_channel
        self._outbox = Outbox(db_path)
        self._conversation = Conversation(
            channel_for=self.channel_for, notify_channel=notify_channel, approvers=approvers,
            pace_of=self._pace_of,
        )  # fmt: skip
        self._paces: Callable[[Rollout], Pace] | None = None
        self._releases = ReleaseConversation(
            channel_for=self._channel, notify_channel=notify_channel,
            read_tail=read_tail or _no_tail,
        )  # fmt: skip
        pacer = Pacer(min_interval, retry_base=retry_base, retry_cap=retry_cap)
        self._sender = Sender(self._outbox, SlackCalls(client), pacer)
        self._cond = threading.Condition()
        self._publishing = threading.Lock()  # compose and enqueue one event at a time
        self._dirty = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._unposted: set[str] = set()  # what has nowhere to go, told once in the log
        self._keep_sent_edits = keep_sent_edits_seconds
        self._next_prune = 0.0  # monotonic; the worker prunes when it starts

    # --- where messages go --------------------------------------------------------------

    def channel_for(self, rollout: Rollout) -> str:
        """The channel of a rollout's parent message and thread: the one it was asked for
        in, else the release channel; "" when there is neither."""
        return self._channel(rollout.channel)

    def _channel(self, asked: str) -> str:
        """Where a rollout or release asked for in `asked` ("" outside Slack) is posted."""
        return asked or self.release_channel or ""

    def use_paces(self, pace_of: Callable[[Rollout], Pace]) -> None:
        """Where estimates and ETAs get each rollout's pace (the engine's measure of its
        app's past rollouts); until this is called, the assumed pace."""
        self._paces = pace_of

    def _pace_of(self, rollout: Rollout) -> Pace:
        return ASSUMED if self._paces is None else self._paces(rollout)

    # --- the listener -------------------------------------------------------------------

    def publish(self, event: RolloutEvent) -> None:
        """Journal what the event says in Slack and wake the worker; no network here."""
        rollout = event.rollout
        if not self.channel_for(rollout):
            self._nowhere(f"#{rollout.id} {rollout.app} {rollout.version}")
            return
        self._enqueue(lambda: self._conversation.compose(event, self._outbox),
                      what=f"{event.kind} of #{rollout.id}")

    def publish_release(self, event: ReleaseEvent) -> None:
        """The same for a release's events: its checklist, thread, log and notify lines."""
        release = event.release
        if not self._channel(release.channel):
            self._nowhere(f"release {release.label} {release.version}")
            return
        self._enqueue(lambda: self._releases.compose(event, self._outbox),
                      what=f"{event.kind} of {release.label}")

    def _enqueue(self, compose: Callable[[], list[Outgoing]], *, what: str) -> None:
        try:
            with self._publishing:
                self._outbox.enqueue(compose())
        except Exception:
            # A listener must not break the engine; the journal error is worth shouting.
            log.exception("could not queue Slack messages for %s", what)
        self._poke()

    def queue(self, items: Sequence[Outgoing], *, what: str) -> None:
        """Journal rows composed elsewhere (the App Home tabs) and wake the worker."""
        self._enqueue(lambda: list(items), what=what)

    def thread_link(self, name: str) -> str | None:
        """A link to the message posted under `name`: its permalink when one was asked
        for, else Slack's archive link to it; None while it is not posted."""
        ref = self._outbox.ref(name)
        if ref is None:
            return None
        return ref.permalink or refs.archive_link(ref.channel, ref.ts)

    def mark_decided(
        self, *, channel: str, ts: str, user: str, action: Action, at: datetime
    ) -> None:
        """Edit a clicked approval or choice message: who did what and when, no buttons."""
        ref = self._outbox.ref_at(channel, ts)
        if ref is None:
            log.warning("no message of rollbot's at %s/%s to mark decided", channel, ts)
            return
        if self._outbox.decided(ref.name):
            return
        edit = self._conversation.decided_edit(
            ref=ref.name, text=ref.text, rollout_id=ref.rollout_id, channel=ref.channel,
            user=user, action=action, at=at,
        )  # fmt: skip
        with self._publishing:
            self._outbox.enqueue([edit])
        self._poke()

    def message_ref(self, rollout_id: int) -> tuple[str, str] | None:
        """Channel and ts of the rollout's parent message, once Slack has it."""
        ref = self._outbox.ref(refs.parent(rollout_id))
        return None if ref is None else (ref.channel, ref.ts)

    def _nowhere(self, what: str) -> None:
        with self._publishing:
            if what in self._unposted:
                return
            self._unposted.add(what)
        log.info("%s is not posted in Slack: it was not asked for in a channel and no "
                 "slack.release_channels are configured", what)

    # --- the worker ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker; rows left pending by an earlier run go first, in order.
        A delivery starts once: after `stop`, make a new one on the same journal."""
        if self._stopping:
            raise RuntimeError("this Slack delivery was stopped; make a new one")
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="slack-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the call in flight. Undelivered rows stay in the journal."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the Slack delivery worker did not stop within %.1fs", timeout)

    def close(self) -> None:
        """Stop, then release the journal connection."""
        self.stop()
        self._outbox.close()

    def flush(self, timeout: float) -> bool:
        """Wait until the outbox holds nothing pending; False when `timeout` ran out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._outbox.pending_count() > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def outbox_counts(self) -> dict[str, int]:
        """Rows by status (pending, sent, failed): for metrics and tests."""
        return self._outbox.status_counts()

    def prune(self, *, now: float | None = None) -> int:
        """Forget edits Slack took more than `keep_sent_edits_seconds` before `now` (wall
        clock, default the present), so a long-running bot's journal does not grow with
        every progress edit. The worker does this when it starts and hourly."""
        at = time.time() if now is None else now
        removed = self._outbox.prune(sent_before=at - self._keep_sent_edits)
        if removed:
            log.info("forgot %d Slack edits sent before the last %.0f days",
                     removed, self._keep_sent_edits / 86400)  # fmt: skip
        return removed

    def _poke(self) -> None:
        with self._cond:
            self._dirty = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                self._dirty = False
            try:
                if time.monotonic() >= self._next_prune:
                    self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                    self.prune()
                wait = self._sender.step()
            except Exception:
                log.exception("the Slack delivery worker failed; trying again shortly")
                wait = ERROR_PAUSE_SECONDS
            with self._cond:
                self._cond.notify_all()  # flush() re-checks after every step
                if wait > 0 and not self._dirty and not self._stopping:
                    self._cond.wait(min(wait, IDLE_RECHECK_SECONDS))


def _no_tail(step: Step) -> str:
    return ""
