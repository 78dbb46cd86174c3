"""The releases in the journal, as any process may read and stop them: status, the list,
and a stop, with no Docker engine, registry or cluster needed.

A stop goes where the release is driven: to the runner when this process drives it
(`stop_here`), through the journal when another live process does (it takes the stop
within half a second), or, when no process drives it any more, it ends the release at
once, since what was running died with its driver.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from bot.runtime import DriverClaims
from rollout.model import AuditEntry, OsAccount
from rollout.ports import Clock
from rollout.release import Release, cancelled, recovered, stop_requested
from rollout.release.errors import ReleaseError, StaleRelease, UnknownRelease
from rollout.release.ports import ReleaseJournal


class ReleaseStore(Protocol):
    """The journal file as the book uses it: its releases, its audit log, where it is."""

    @property
    def path(self) -> str: ...

    @property
    def releases(self) -> ReleaseJournal: ...

    def record_audit(self, entry: AuditEntry) -> None: ...


def beside(store: ReleaseStore) -> Path | None:
    """Where releases keep work trees, logs and driver locks: beside the journal, as
    rollouts do; None for a journal in memory."""
    return None if store.path == ":memory:" else Path(f"{store.path}.releases")


class ReleaseBook:
    def __init__(self, store: ReleaseStore, *, clock: Clock) -> None:
        self.journal = store.releases
        self.claims = DriverClaims(beside(store) or Path(":memory:"))
        self._store, self._clock = store, clock

    def status(self, release_id: int | None = None) -> Release:
        """One release; the latest when no ID is given. UnknownRelease when there is none."""
        if release_id is None:
            latest = self.journal.list_releases(limit=1)
            if not latest:
                raise ReleaseError("there has been no release yet")
            return latest[0]
        found = self.journal.get_release(release_id)
        if found is None:
            raise UnknownRelease(release_id)
        return found

    def list_releases(self, *, limit: int = 10) -> list[Release]:
        return self.journal.list_releases(limit=limit)

    def driven_elsewhere(self, release_id: int) -> bool:
        return self.claims.driven_elsewhere(release_id)

    def cancel(
        self, release_id: int, *, user: str, source: str = "cli",
        os_account: OsAccount | None = None,
        stop_here: Callable[[int, str], Release | None] = lambda release_id, user: None,
    ) -> Release:
        """Stop it (see the module's doc); `stop_here(id, user)` stops a release this
        process drives and returns it, else None. A finished release is left as it is."""
        release = self.status(release_id)
        action = f"release cancel {release.label}"
        if release.phase.terminal:
            self.audit(user, action, "refused", f"{release.label} is already {release.phase}",
                       source=source, account=os_account)
            return release
        stopped = stop_here(release_id, user)
        if stopped is None and self.claims.claim(release_id):
            stopped = self._cancel_orphan(release, user)  # its driver is gone: end it here
        elif stopped is None:
            stopped = self._write_stop(release_id, user)
        self.audit(user, action, "ok", "", source=source, account=os_account)
        return stopped

    def audit(self, user: str, action: str, outcome: str, detail: str, *, source: str,
              account: OsAccount | None) -> None:
        self._store.record_audit(AuditEntry(
            at=self._clock.now(), user=user, action=action, outcome=outcome,
            detail=detail, source=source, os_account=account,
        ))  # fmt: skip

    def _cancel_orphan(self, release: Release, user: str) -> Release:
        """A release no live process drives: what was running died with its process, so
        it is cancelled at once rather than left for a restart to find."""
        try:
            now = self._clock.now()
            ended = cancelled(recovered(release, verified={}, now=now), user=user, now=now)
            return self.journal.save_release(replace(ended, stop_requested_by=user))
        finally:
            self.claims.release(release.id)

    def _write_stop(self, release_id: int, user: str) -> Release:
        while True:
            release = self.status(release_id)
            try:
                return self.journal.save_release(stop_requested(release, user=user))
            except StaleRelease:
                continue  # the driver saved meanwhile: ask again on its newer copy
