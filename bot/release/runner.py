"""Drives one release, on a thread of its own, off any event loop and beside the rollout
engine: the steps of each stage run together on worker threads (both images build at the
same time), each change is journalled before the next step starts, and each is told to
the listeners.

A stop (`cancel`, a Stop click, or a stop another process wrote to the journal) is taken
at once: the release is journalled as cancelled, then whatever is running is ended
(the pnpm process group killed, the build stream shut) and recorded as it settles.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace

from bot.build.stop import Stop
from bot.release import work
from bot.release.preflight import ReleasePreflight
from bot.release.work import Result, Workshop
from rollout.model import Rollout
from rollout.release import (
    Release,
    ReleaseEvent,
    ReleaseEventKind,
    ReleasePhase,
    StepKind,
    StepState,
    cancelled,
    deploy_started,
    failed,
    finished,
    ready,
    reused,
    started,
)
from rollout.release.errors import StaleRelease
from rollout.release.ports import ReleaseJournal, ReleaseListener

log = logging.getLogger("rollbot.release")
POLL_SECONDS = 0.5  # how often a stop written by another process is looked for
_ENDINGS = {ReleasePhase.COMPLETED: ReleaseEventKind.COMPLETED,
            ReleasePhase.FAILED: ReleaseEventKind.FAILED,
            ReleasePhase.CANCELLED: ReleaseEventKind.CANCELLED}


class ReleaseRunner:
    def __init__(
        self, release: Release, *, shop: Workshop, journal: ReleaseJournal,
        preflight: ReleasePreflight, listeners: Sequence[ReleaseListener],
        groups: frozenset[str], on_end: Callable[[int], None],
    ) -> None:
        self._release = release
        self._shop, self._journal, self._preflight = shop, journal, preflight
        self._listeners, self._groups, self._on_end = listeners, groups, on_end
        self._lock = threading.RLock()
        self._stop = Stop()
        self._abandoned = False  # shutting down: end the work, journal nothing more
        self._pool = ThreadPoolExecutor(max(2, len(release.apps)),
                                        thread_name_prefix=f"rollbot-{release.label}")
        self._thread = threading.Thread(target=self._run, name=f"rollbot-release-{release.label}",
                                        daemon=True)

    @property
    def release(self) -> Release:
        with self._lock:
            return self._release

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def request_stop(self, user: str) -> Release:
        """Journal the stop and act on it now: nothing more starts, running work ends."""
        with self._lock:
            if not self._release.phase.terminal:
                self._take_stop(user)
            return self._release

    def abandon(self) -> None:
        """Let go of the release as a crash would: what runs is ended, nothing more is
        journalled or told, so the journal shows the steps a restart must run again."""
        with self._lock:
            self._abandoned = True
        self._stop.stop()

    # --- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self._release.step(str(StepKind.PREFLIGHT)).attempts == 0:
                self._publish(ReleaseEventKind.STARTED)
            if self._release.stop_requested_by:  # asked for while no process drove it
                with self._lock:
                    self._take_stop(self._release.stop_requested_by)
            while (steps := ready(self.release)) and not self._abandoned:
                running = [self._pool.submit(self._step, s.key) for s in steps]
                self._wait(running)
        except Exception:
            log.exception("release %s stopped with an error", self._release.label)
        finally:
            self._pool.shutdown(wait=True)
            ending = _ENDINGS.get(self.release.phase)
            if ending is not None:
                self._publish(ending)
            self._on_end(self._release.id)

    def _wait(self, running: list[Future[None]]) -> None:
        """Until the stage's steps have returned; meanwhile, take a stop from the journal."""
        while wait(running, timeout=POLL_SECONDS).not_done:
            stored = self._journal.get_release(self._release.id)
            if stored is not None and stored.stop_requested_by:
                with self._lock:
                    self._take_stop(stored.stop_requested_by)
        for future in running:
            future.result()

    def _take_stop(self, user: str) -> None:
        if self._stop.requested:
            return
        self._save(cancelled(replace(self._release, stop_requested_by=user), user=user,
                             now=self._shop.clock.now()))
        self._stop.stop(by=user)

    # --- one step -------------------------------------------------------------------------

    def _step(self, key: str) -> None:
        with self._lock:
            if self._stop.requested or self._abandoned:
                return
            step = self._release.step(key)
            path = str(self._shop.log_path(self._release, step))
            release = self._save(started(self._release, key, now=self._shop.clock.now(),
                                         log_path=path))
            self._publish(ReleaseEventKind.STEP_STARTED, key)
        try:
            result = self._work(release, key)
        except Exception as err:
            log.exception("release %s step %s failed", release.label, key)
            result = Result(False, f"failed unexpectedly: {err}")
        self._settle(key, result)

    def _work(self, release: Release, key: str) -> Result:
        step = release.step(key)
        if step.kind is StepKind.PREFLIGHT:
            return self._check(release)
        if step.kind is StepKind.DEPLOY:
            return work.deploy(self._shop, release, step, self._stop,
                               started=lambda rollout: self._deploying(key, rollout))
        doers = {StepKind.INSTALL: work.install, StepKind.SHARED_BUILD: work.shared_build,
                 StepKind.CHECKS: work.checks, StepKind.IMAGE: work.image,
                 StepKind.PUSH: work.push,
                 StepKind.VERIFY: work.verify}
        return doers[step.kind](self._shop, release, step, self._stop)

    def _deploying(self, key: str, rollout: Rollout) -> None:
        """The deploy's rollout is journalled with its step, then the faces hear of it (a
        restart finds the same rollout again and tells them again; they post it once)."""
        with self._lock:
            self._save(deploy_started(self._release, key, rollout_id=rollout.id))
            self._publish(ReleaseEventKind.DEPLOY_STARTED, key, rollout=rollout)

    def _check(self, release: Release) -> Result:
        checked = self._preflight.check(release, groups=self._groups,
                                        now=self._shop.clock.now())
        path = self._shop.log_path(release, release.step(str(StepKind.PREFLIGHT)))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{p}\n" for p in checked.problems) or "no problems\n")
        if checked.problems:
            return Result(False, "\n".join(checked.problems))
        source = checked.source

        def passed(r: Release) -> Release:
            if source is not None:
                r = replace(r, ref=source.ref, revision=source.revision)
            for app, detail in checked.reused.items():
                r = reused(r, app, detail=detail)
            return r

        self._apply(passed)
        return Result(True)

    def _settle(self, key: str, result: Result) -> None:
        with self._lock:
            if self._release.step(key).state is not StepState.RUNNING:
                return  # a stop has settled it already (a deploy left running)
            now = self._shop.clock.now()
            if result.ok:
                self._save(finished(self._release, key, now=now, detail=result.detail,
                                    digest=result.digest))
            else:
                self._save(failed(self._release, key, now=now, reason=result.reason))
            self._publish(ReleaseEventKind.STEP_FINISHED, key)
            verifies = self._release.steps_of(StepKind.VERIFY)
            if key.startswith(str(StepKind.VERIFY)) and all(
                s.state is StepState.DONE for s in verifies
            ):
                self._publish(ReleaseEventKind.BUILT)

    # --- the journal and the listeners ----------------------------------------------------

    def _apply(self, change: Callable[[Release], Release]) -> None:
        with self._lock:
            self._save(change(self._release))

    def _save(self, release: Release) -> Release:
        """Journal `release`. Only a stop is written by others meanwhile: keep theirs."""
        if self._abandoned:
            return self._release
        while True:
            try:
                self._release = self._journal.save_release(release)
                return self._release
            except StaleRelease:
                stored = self._journal.get_release(release.id)
                assert stored is not None
                release = replace(release, lock_version=stored.lock_version,
                                  stop_requested_by=release.stop_requested_by
                                  or stored.stop_requested_by)

    def _publish(
        self, kind: ReleaseEventKind, key: str | None = None, *, rollout: Rollout | None = None
    ) -> None:
        if self._abandoned:
            return
        release = self._release
        event = ReleaseEvent(kind, release, release.step(key) if key else None, rollout)
        for listener in self._listeners:
            try:
                listener.publish_release(event)
            except Exception:  # a face's failure must not stop the release
                log.exception("a release listener failed on %s", kind)
