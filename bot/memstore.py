"""The journal in memory, for tests, `rollbot plan` and anything that needs no file.

It behaves as :class:`bot.store.SqliteStore` does (the contract tests in
``tests/adapters/test_store_contract.py`` run both): IDs from 1, one active rollout per
app, stale writes refused, the inbox handing each request out once. Values pass through
the SQLite store's codec on the way in, so what comes back is what the file would give back
(datetimes in UTC, for one); rollouts are frozen, so nothing else needs copying.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace

from bot.store import StaleRollout, codec, release_codec
from rollout.errors import RolloutConflict, UnknownRollout
from rollout.model import AuditEntry, InboxItem, Phase, Rollout
from rollout.release import Release
from rollout.release.errors import ReleaseConflict, StaleRelease, UnknownRelease


class MemoryStore:
    """:class:`rollout.ports.Store` in a few dicts behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rollouts: dict[int, Rollout] = {}
        self._audit: list[AuditEntry] = []
        self._inbox: dict[int, InboxItem] = {}  # pending only; taken items are dropped
        self._inbox_ids = itertools.count(1)
        self.releases = MemoryReleases()

    def create_rollout(self, rollout: Rollout) -> Rollout:
        codec.check_rollout(rollout)
        with self._lock:
            active = self._active(rollout.app)
            if active is not None:
                raise RolloutConflict(rollout.app, active.id)
            stored = _normalized(replace(rollout, id=max(self._rollouts, default=0) + 1))
            self._rollouts[stored.id] = stored
        return stored

    def save(self, rollout: Rollout) -> Rollout:
        codec.check_rollout(rollout)
        with self._lock:
            current = self._rollouts.get(rollout.id)
            if current is None:
                raise UnknownRollout(rollout.id)
            if current.lock_version != rollout.lock_version:
                raise StaleRollout(
                    rollout.id, given=rollout.lock_version, stored=current.lock_version
                )
            saved = _normalized(replace(rollout, lock_version=rollout.lock_version + 1), current)
            self._rollouts[saved.id] = saved
        return saved

    def get(self, rollout_id: int) -> Rollout | None:
        with self._lock:
            return self._rollouts.get(rollout_id)

    def list_rollouts(
        self,
        *,
        app: str | None = None,
        active: bool | None = None,
        limit: int = 20,
        phase: Phase | None = None,
    ) -> list[Rollout]:
        """Newest first."""
        with self._lock:
            newest_first = sorted(self._rollouts.values(), key=lambda r: r.id, reverse=True)
        found = [
            r
            for r in newest_first
            if (app is None or r.app == app)
            and (active is None or r.active == active)
            and (phase is None or r.phase is phase)
        ]
        return found[: max(0, limit)]

    def active_for_app(self, app: str) -> Rollout | None:
        with self._lock:
            return self._active(app)

    def count_active(self) -> int:
        with self._lock:
            return sum(1 for r in self._rollouts.values() if r.active)

    def _active(self, app: str) -> Rollout | None:
        ids = [r.id for r in self._rollouts.values() if r.app == app and r.active]
        return self._rollouts[max(ids)] if ids else None

    def record_audit(self, entry: AuditEntry) -> None:
        codec.dump_time(entry.at)
        stored = codec.audit_from({"id": 0, **codec.audit_row(entry)})
        with self._lock:
            self._audit.append(stored)

    def audit_log(self, *, rollout_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest `limit` entries, oldest first, like the tail of a log file."""
        with self._lock:
            found = [e for e in self._audit if rollout_id is None or e.rollout_id == rollout_id]
        tail = found[len(found) - max(0, limit) :] if limit > 0 else []
        return [replace(e, extra=dict(e.extra)) for e in tail]

    def enqueue(self, item: InboxItem) -> int:
        row = codec.inbox_row(item)
        with self._lock:
            item_id = next(self._inbox_ids)
            self._inbox[item_id] = codec.inbox_from({**row, "id": item_id})
        return item_id

    def take_inbox(self, rollout_id: int) -> list[InboxItem]:
        with self._lock:
            taken = [i for i in self._inbox.values() if i.rollout_id == rollout_id]
            for item in taken:
                del self._inbox[item.id]
        return sorted(taken, key=lambda i: i.id)


class MemoryReleases:
    """:class:`rollout.release.ports.ReleaseJournal` in a dict, as the file behaves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._releases: dict[int, Release] = {}

    def create_release(self, release: Release) -> Release:
        release_codec.check_release(release)
        with self._lock:
            active = [r.id for r in self._releases.values() if r.active]
            if active:
                raise ReleaseConflict(max(active))
            new_id = max(self._releases, default=0) + 1
            stored = release_codec.normalized(replace(release, id=new_id))
            self._releases[new_id] = stored
        return stored

    def save_release(self, release: Release) -> Release:
        release_codec.check_release(release)
        with self._lock:
            current = self._releases.get(release.id)
            if current is None:
                raise UnknownRelease(release.id)
            if current.lock_version != release.lock_version:
                raise StaleRelease(release.id, given=release.lock_version,
                                   stored=current.lock_version)
            saved = release_codec.normalized(
                replace(release, lock_version=release.lock_version + 1)
            )
            self._releases[release.id] = saved
        return saved

    def get_release(self, release_id: int) -> Release | None:
        with self._lock:
            return self._releases.get(release_id)

    def list_releases(
        self, *, active: bool | None = None, version: str | None = None, limit: int = 20
    ) -> list[Release]:
        with self._lock:
            newest_first = sorted(self._releases.values(), key=lambda r: r.id, reverse=True)
        found = [r for r in newest_first if (active is None or r.active == active)
                 and (version is None or r.version == version)]
        return found[: max(0, limit)]

    def active_release(self) -> Release | None:
        found = self.list_releases(active=True, limit=1)
        return found[0] if found else None


def _normalized(rollout: Rollout, previous: Rollout | None = None) -> Rollout:
    """The rollout as the SQLite store would read it back.

    Targets the engine did not touch are the very objects stored last time, so only the
    changed ones go through the codec: a 1,000-tenant save stays cheap here too."""
    known = {t.namespace: t for t in previous.targets} if previous else {}
    targets = [
        t if known.get(t.namespace) is t else codec.target_from(codec.target_values(0, t))
        for t in rollout.targets
    ]
    approvals = [codec.approval_from(codec.approval_values(a)) for a in rollout.approvals]
    return codec.rollout_from(codec.rollout_row(rollout), targets, approvals)
