"""The release journal in the rollouts' SQLite file: the `releases` and `release_steps`
tables (schema v6; v8 added skip_checks).

It shares the journal's connection and lock, so a release and the rollouts it starts are
written through the same one-writer-at-a-time door (:func:`bot.store.write_transaction`),
and a second process sees one release active at most: the check and the insert are one
``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlite_utils import Database

from bot.store import check_lock_version
from bot.store import release_codec as codec
from rollout.release import Release, ReleasePhase
from rollout.release.errors import ReleaseConflict, StaleRelease, UnknownRelease

_RUNNING = str(ReleasePhase.RUNNING)


class SqliteReleases:
    """:class:`rollout.release.ports.ReleaseJournal` on the journal's connection."""

    def __init__(self, db: Database, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    @contextmanager
    def _write(self) -> Iterator[Database]:
        from bot.store import write_transaction

        with write_transaction(self._db, self._lock) as db:
            yield db

    @contextmanager
    def _read(self) -> Iterator[Database]:
        """One snapshot, so a release is never read half-saved."""
        with self._lock:
            self._db.conn.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.rollback()

    def create_release(self, release: Release) -> Release:
        codec.check_release(release)
        with self._write() as db:
            active = self._active_id()
            if active is not None:
                raise ReleaseConflict(active)
            (next_id,) = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM releases").fetchone()
            stored = replace(release, id=next_id)
            db.table("releases").insert(codec.release_row(stored))
            self._write_steps(stored)
        return stored

    def save_release(self, release: Release) -> Release:
        codec.check_release(release)
        saved = replace(release, lock_version=release.lock_version + 1)
        with self._write() as db:
            check_lock_version(
                db, "releases", release.id, release.lock_version,
                unknown=lambda: UnknownRelease(release.id),
                stale=lambda stored: StaleRelease(
                    release.id, given=release.lock_version, stored=stored
                ),
            )  # fmt: skip
            db.table("releases").update(release.id, codec.release_row(saved))
            self._write_steps(saved)
        return saved

    def get_release(self, release_id: int) -> Release | None:
        with self._read():
            found = self._releases("id = ?", [release_id], limit=1)
        return found[0] if found else None

    def list_releases(
        self, *, active: bool | None = None, version: str | None = None, limit: int = 20
    ) -> list[Release]:
        where, params = ["1"], list[Any]()
        if active is not None:
            where.append("phase = ?" if active else "phase != ?")
            params.append(_RUNNING)
        if version is not None:
            where.append("version = ?")
            params.append(version)
        with self._read():
            return self._releases(" AND ".join(where), params, limit=limit)

    def active_release(self) -> Release | None:
        found = self.list_releases(active=True, limit=1)
        return found[0] if found else None

    def _active_id(self) -> int | None:
        row = self._db.execute(
            "SELECT id FROM releases WHERE phase = ? ORDER BY id DESC LIMIT 1", [_RUNNING]
        ).fetchone()
        return None if row is None else int(row[0])

    def _releases(self, where: str, params: list[Any], *, limit: int) -> list[Release]:
        rows = list(self._db.query(
            f"SELECT * FROM releases WHERE {where} ORDER BY id DESC LIMIT ?",
            [*params, max(0, limit)],
        ))  # fmt: skip
        out = []
        for row in rows:
            cursor = self._db.execute(
                f"SELECT {', '.join(codec.STEP_COLUMNS)} FROM release_steps "
                "WHERE release_id = ? ORDER BY position",
                [row["id"]],
            )
            out.append(codec.release_from(row, [codec.step_from(v) for v in cursor.fetchall()]))
        return out

    def _write_steps(self, release: Release) -> None:
        table = self._db.table("release_steps")
        table.delete_where("release_id = ?", [release.id])
        table.insert_all(
            {"release_id": release.id} | dict(zip(codec.STEP_COLUMNS, values, strict=True))
            for values in (codec.step_values(i, s) for i, s in enumerate(release.steps))
        )
