"""One event of one rollout: load, decide, save, tell, act.

This is where the order that makes rollbot crash-safe is kept: the new state is saved
BEFORE any of its effects runs, so every intent (a tenant UPDATING with its previous image,
a roll back, a switch) is in the journal before the cluster changes. A whole batch's
intents are one save, and the store returns a save only once it is on disk, so this holds
through a power cut too, at one disk sync per batch. Effects that block run on the `steps`
pool and come back as events through the rollout's mailbox; timers are armed from the
stored deadlines; listeners hear about the state as saved.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial

from rollout import retries
from rollout.engine.driver import Driver
from rollout.engine.tenants import PreflightReads
from rollout.engine.work import ClusterEffects, blocking
from rollout.errors import EngineStopped, RollbotError, UnknownRollout
from rollout.machine import (
    ArmTimer,
    CallsRetried,
    CancelTimer,
    Effect,
    Event,
    PreflightFailed,
    Publish,
    TimerFired,
    TimerKind,
    decide,
)
from rollout.model import AuditEntry, OsAccount, Phase, Rollout, RolloutEvent
from rollout.ports import Clock, Listener, Store, Timers

log = logging.getLogger("rollbot.engine")

STEP_WORKERS = 8  # effects running at once (a batch, a preflight, a switch), all rollouts
DRIVER_WORKERS = 4  # rollouts deciding at once; each decision is short


JOURNAL_RETRY_SECONDS = (0.05, 0.25, 1.0)  # waits between attempts when the journal fails


class _JournalTrouble(Exception):
    """The journal failed (not refused): the event is handled again after a pause."""


def timer_key(rollout_id: int, kind: TimerKind) -> str:
    return f"rollout-{rollout_id}-{kind.slot}"


class Runner:
    """Handles the events of every rollout this engine drives."""

    def __init__(
        self,
        *,
        store: Store,
        timers: Timers,
        clock: Clock,
        listeners: Sequence[Listener],
        work: ClusterEffects,
        remembered: PreflightReads,
        stopping: threading.Event,
        owner: str,
    ) -> None:
        self._store = store
        self._timers = timers
        self._clock = clock
        self._listeners = tuple(listeners)
        self._work = work
        self._remembered = remembered
        self._stopping = stopping
        self._owner = owner
        self._lock = threading.Lock()
        self._driving: set[int] = set()  # rollouts driven here (their requests polled here)
        # The state last saved of each rollout driven here. Only its driver writes a
        # rollout (others ask through the inbox, and a save over another's is refused),
        # so this is what the journal holds, without reading every target back.
        self._latest: dict[int, Rollout] = {}
        self._armed: set[str] = set()
        self._steps = ThreadPoolExecutor(STEP_WORKERS, thread_name_prefix="rollbot-step")
        self.driver = Driver(self.handle, workers=DRIVER_WORKERS)

    # --- one event ------------------------------------------------------------------------

    def handle(self, rollout_id: int, event: Event) -> Rollout:
        """Handle one event; a journal that fails for a moment is retried, so a result is
        not lost (the rollout would stall until a restart). Refusals are not retried."""
        for delay in (*JOURNAL_RETRY_SECONDS, None):
            try:
                return self._handle(rollout_id, event)
            except _JournalTrouble as trouble:
                cause = trouble.__cause__ or trouble
                if delay is None or self._stopping.wait(delay):
                    raise cause from None
                log.warning("#%s: the journal failed (%s); trying again", rollout_id, cause)
        raise AssertionError("unreachable")

    def _handle(self, rollout_id: int, event: Event) -> Rollout:
        if self._stopping.is_set():
            raise EngineStopped("rollbot is shutting down")
        rollout = self._read(rollout_id)
        now = self._clock.now()
        transition = decide(rollout, event, now=now)
        saved = rollout
        if transition.rollout != rollout:
            saved = self._save(transition.rollout)
        self._track(saved)
        for effect in transition.effects:
            self._apply(saved, effect, now=now)
        if isinstance(event, PreflightFailed) and saved.phase is Phase.FAILED:
            self.audit(
                user=saved.requested_by,
                action=f"deploy {saved.app} {saved.version}",
                outcome="refused",
                rollout_id=saved.id,
                detail="; ".join(event.problems),
                source=saved.source,
            )
        return saved

    def _read(self, rollout_id: int) -> Rollout:
        try:
            return self.load(rollout_id)
        except RollbotError:
            raise
        except Exception as err:
            raise _JournalTrouble() from err

    def _save(self, rollout: Rollout) -> Rollout:
        try:
            saved = self._store.save(rollout)
        except RollbotError:
            current = self._store.get(rollout.id)
            if current is not None and current.lock_version != rollout.lock_version:
                # Someone else saved it since we loaded it: two drivers must never race.
                log.warning("#%s was changed by another process; leaving it to it", rollout.id)
                self.release(rollout.id)
            raise
        except Exception as err:
            landed = self._landed(rollout)
            if landed is None:
                raise _JournalTrouble() from err
            saved = landed  # written, though the journal answered with an error
        self._remember(saved)
        self.driver.saved()
        return saved

    def _landed(self, rollout: Rollout) -> Rollout | None:
        """The state as stored, if the failed save was written after all. Only this driver
        writes the rollout, so the next lock_version can only be that save's."""
        try:
            current = self._store.get(rollout.id)
        except Exception:
            return None
        if current is not None and current.lock_version == rollout.lock_version + 1:
            return current
        return None

    def _apply(self, rollout: Rollout, effect: Effect, *, now: datetime) -> None:
        if isinstance(effect, Publish):
            self._publish(rollout, effect, now=now)
        elif isinstance(effect, ArmTimer):
            self._arm(rollout.id, effect)
        elif isinstance(effect, CancelTimer):
            self._timers.cancel(timer_key(rollout.id, effect.kind))
        elif blocking(effect):
            self._dispatch(rollout, effect)
        else:
            raise TypeError(f"not an effect: {effect!r}")

    def _dispatch(self, rollout: Rollout, effect: Effect) -> None:
        self.driver.begin()
        try:
            self._steps.submit(self._run_effect, rollout, effect)
        except RuntimeError:  # shutting down: the work is dropped, a restart redoes it
            self.driver.done()

    def _run_effect(self, rollout: Rollout, effect: Effect) -> None:
        try:
            with retries.counting() as counted:
                event = self._work.run(rollout, effect)
            retried = counted()
            if event is not None and not self._stopping.is_set():
                if retried.total:  # the mailbox keeps order: counted before the result
                    self.driver.post(rollout.id, CallsRetried(retried))
                self.driver.post(rollout.id, event)
        except Exception:
            log.exception("#%s: running %r failed", rollout.id, effect)
        finally:
            self.driver.done()

    def _arm(self, rollout_id: int, effect: ArmTimer) -> None:
        key = timer_key(rollout_id, effect.kind)
        with self._lock:
            self._armed.add(key)
        self._timers.arm(key, effect.at, partial(self._fired, rollout_id, effect.kind))

    def _fired(self, rollout_id: int, kind: TimerKind) -> None:
        if not self._stopping.is_set():
            self.driver.post(rollout_id, TimerFired(kind))

    def _publish(self, rollout: Rollout, effect: Publish, *, now: datetime) -> None:
        event = RolloutEvent(
            kind=effect.kind,
            rollout=rollout,
            at=now,
            batch=effect.batch,
            user=effect.user,
            detail=effect.detail,
            problems=effect.problems,
            os_account=effect.os_account,
            action=effect.action,
        )
        for listener in self._listeners:
            try:
                listener.publish(event)
            except Exception:  # one broken listener must not stop a rollout
                log.exception("listener %r failed on %s of #%s", listener, event.kind, rollout.id)

    # --- which rollouts are driven here ---------------------------------------------------

    def load(self, rollout_id: int) -> Rollout:
        with self._lock:
            kept = self._latest.get(rollout_id)
        if kept is not None:
            return kept
        rollout = self._store.get(rollout_id)
        if rollout is None:
            raise UnknownRollout(rollout_id)
        self._remember(rollout)
        return rollout

    def _remember(self, rollout: Rollout) -> None:
        with self._lock:
            if rollout.id in self._driving:
                self._latest[rollout.id] = rollout

    def adopt(self, rollout_id: int) -> None:
        with self._lock:
            self._driving.add(rollout_id)

    def release(self, rollout_id: int) -> None:
        with self._lock:
            self._driving.discard(rollout_id)
            self._latest.pop(rollout_id, None)
        self._remembered.forget(rollout_id)

    def _track(self, rollout: Rollout) -> None:
        if rollout.active or rollout.old_side_removal_owed:
            self.adopt(rollout.id)
        else:
            self.release(rollout.id)

    def drives(self, rollout_id: int) -> bool:
        with self._lock:
            return rollout_id in self._driving

    def driven(self) -> list[int]:
        with self._lock:
            return sorted(self._driving)

    # --- the audit log --------------------------------------------------------------------

    def audit(
        self,
        *,
        user: str,
        action: str,
        outcome: str,
        rollout_id: int | None = None,
        detail: str = "",
        source: str = "cli",
        os_account: OsAccount | None = None,
    ) -> None:
        entry = AuditEntry(
            at=self._clock.now(),
            user=user,
            action=action,
            outcome=outcome,
            rollout_id=rollout_id,
            detail=detail,
            source=source,
            extra={"engine": self._owner},
            os_account=os_account,
        )
        try:
            self._store.record_audit(entry)
        except Exception:  # the request itself stands; the journal's trouble is logged
            log.exception("could not write the audit entry for %s by %s", action, user)

    # --- stopping -------------------------------------------------------------------------

    def stop(self, *, wait: bool) -> None:
        with self._lock:
            armed, self._armed = set(self._armed), set()
        for key in armed:
            self._timers.cancel(key)
        self.driver.stop(wait=wait)
        self._steps.shutdown(wait=wait, cancel_futures=True)
