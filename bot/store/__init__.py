"""The journal on disk: every rollout, tenant, approval, audit line and inbox request.

rollbot must pick up an unfinished rollout after a crash, and `rollbot approve` in one
terminal must reach `rollbot deploy` running in another, so the state lives in one SQLite
file (``ROLLBOT_DB``) shared by processes and by the engine's worker threads. WAL mode lets
readers run beside a writer; every read-then-write runs inside ``BEGIN IMMEDIATE`` so two
processes cannot both pass the same check; ``busy_timeout`` makes them queue instead of
failing; every commit is synced to disk before it returns (see :func:`connect`). How
values become rows is in :mod:`bot.store.codec`, the tables in :mod:`bot.store.schema`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlite_utils import Database

from bot.store import codec
from bot.store.schema import (
    SCHEMA_VERSION,
    JournalError,
    SchemaTooNew,
    migrate,
    stored_version,
)
from rollout.errors import RolloutConflict, StaleRollout, UnknownRollout
from rollout.model import TERMINAL_PHASES, AuditEntry, InboxItem, Phase, Rollout

__all__ = [
    "SCHEMA_VERSION",
    "JournalError",
    "SchemaTooNew",
    "SqliteStore",
    "StaleRollout",
    "connect",
    "write_transaction",
]

BUSY_TIMEOUT_SECONDS: Final = 15.0

_TERMINAL = tuple(sorted(p.value for p in TERMINAL_PHASES))
_NOT_TERMINAL = f"phase NOT IN ({', '.join('?' * len(_TERMINAL))})"


def check_lock_version(
    db: Database,
    table: str,
    row_id: int,
    given: int,
    *,
    unknown: Callable[[], Exception],
    stale: Callable[[int], Exception],
) -> None:
    """Optimistic locking: the row must still be at the version it was read at, else
    someone saved it since (`stale(stored)`); a row that is not there is `unknown()`."""
    row = db.execute(f"SELECT lock_version FROM {table} WHERE id = ?", [row_id]).fetchone()
    if row is None:
        raise unknown()
    if row[0] != given:
        raise stale(int(row[0]))


def connect(path: str, *, autocommit: bool = False) -> Database:
    """A connection to the journal file, set up as everything that writes it must be.

    ``synchronous = FULL``: in WAL mode, NORMAL survives a killed process but lets an OS
    crash or power cut drop the last commits. The engine sends a batch's patches right
    after the commit that records them (each tenant UPDATING, with its previous image),
    and the outbox posts to Slack right after the commit that marks a post under way. Had
    such a record been lost once its action was taken, a restart would take the patched
    tenant for untouched (its "previous" image read from the cluster is already the new
    one), or post a message twice. FULL syncs the WAL at every commit; a batch's records
    are one commit, so that is one sync per batch, not one per tenant. With `autocommit`
    the sqlite3 module opens no transactions of its own."""
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_SECONDS,
        check_same_thread=False,
        isolation_level=None if autocommit else "DEFERRED",
    )
    db = Database(conn)
    try:
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        if path != ":memory:":
            db.enable_wal()
            db.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()
        raise
    return db


@contextmanager
def write_transaction(db: Database, lock: threading.RLock) -> Iterator[Database]:
    """A write transaction on `db` that holds SQLite's write lock from its first statement
    (BEGIN IMMEDIATE), one thread at a time under `lock`; rolled back when anything in it
    fails. The journal and the Slack outbox, on their own connections to the same file,
    both write through it."""
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.rollback()
            raise
        db.execute("COMMIT")



_COLUMNS = ("rollout_id", *codec.TARGET_COLUMNS)
_QUOTED = ", ".join(f'"{c}"' for c in _COLUMNS)
_KEY = ("rollout_id", "namespace")
_SET = ", ".join(f'"{c}" = excluded."{c}"' for c in _COLUMNS if c not in _KEY)
UPSERT_TARGET = (
    f'INSERT INTO "targets" ({_QUOTED}) VALUES ({", ".join("?" * len(_COLUMNS))}) '
    f"ON CONFLICT (rollout_id, namespace) DO UPDATE SET {_SET}"
)


class SqliteStore:
    """:class:`rollout.ports.Store` on one SQLite file, safe across threads and processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        try:
            # One connection behind a lock: the engine's threads take turns, as SQLite makes
            # writers do anyway; other processes queue on busy_timeout.
            self._db = connect(self.path)
        except sqlite3.Error as err:
            raise JournalError(f"cannot open the journal {self.path}: {err}") from err
        try:
            with self._write() as db:
                migrate(db, path=self.path)
        except sqlite3.Error as err:
            self._db.close()
            raise JournalError(f"cannot use the journal {self.path}: {err}") from err
        except BaseException:
            self._db.close()
            raise
        from bot.store.releases import SqliteReleases

        self.releases = SqliteReleases(self._db, self._lock)  # the release pipeline's journal

    @classmethod
    def from_env(cls) -> SqliteStore:
        """The journal at ``ROLLBOT_DB``, else at :func:`bot.runtime.db_path`'s default."""
        from bot.runtime import db_path

        return cls(db_path())

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._read() as db:
            return stored_version(db)

    # -- transactions

    def _write(self) -> AbstractContextManager[Database]:
        return write_transaction(self._db, self._lock)

    @contextmanager
    def _read(self) -> Iterator[Database]:
        """One snapshot across several SELECTs, so a rollout is never read half-saved."""
        with self._lock:
            self._db.conn.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.rollback()

    # -- rollouts

    def create_rollout(self, rollout: Rollout) -> Rollout:
        """Store a new rollout under the next ID; refuse while the app has an active one."""
        codec.check_rollout(rollout)
        with self._write() as db:
            active = self._active_id(rollout.app)
            if active is not None:
                raise RolloutConflict(rollout.app, active)
            (next_id,) = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM rollouts").fetchone()
            stored = replace(rollout, id=next_id)
            db.table("rollouts").insert(codec.rollout_row(stored))
            self._write_targets(stored, previous={})
            self._write_approvals(stored, previous=[])
        return stored

    def save(self, rollout: Rollout) -> Rollout:
        """Store a new state if nobody saved since it was read; returns lock_version + 1."""
        codec.check_rollout(rollout)
        saved = replace(rollout, lock_version=rollout.lock_version + 1)
        with self._write() as db:
            check_lock_version(
                db, "rollouts", rollout.id, rollout.lock_version,
                unknown=lambda: UnknownRollout(rollout.id),
                stale=lambda stored: StaleRollout(
                    rollout.id, given=rollout.lock_version, stored=stored
                ),
            )  # fmt: skip
            db.table("rollouts").update(rollout.id, codec.rollout_row(saved))
            self._write_targets(saved, previous=self._target_rows(rollout.id))
            self._write_approvals(saved, previous=self._approval_rows(rollout.id))
        return saved

    def get(self, rollout_id: int) -> Rollout | None:
        with self._read():
            found = self._rollouts("id = ?", [rollout_id], limit=1)
        return found[0] if found else None

    def list_rollouts(
        self,
        *,
        app: str | None = None,
        active: bool | None = None,
        limit: int = 20,
        phase: Phase | None = None,
    ) -> list[Rollout]:
        """Newest first."""
        where, params = ["1"], list[Any]()
        if app is not None:
            where.append("app = ?")
            params.append(app)
        if phase is not None:
            where.append("phase = ?")
            params.append(phase.value)
        if active is not None:
            where.append(_NOT_TERMINAL if active else f"NOT ({_NOT_TERMINAL})")
            params.extend(_TERMINAL)
        with self._read():
            return self._rollouts(" AND ".join(where), params, limit=limit)

    def count_active(self) -> int:
        with self._read():
            row = self._db.execute(
                f"SELECT COUNT(*) FROM rollouts WHERE {_NOT_TERMINAL}", list(_TERMINAL)
            ).fetchone()
        return int(row[0])

    def active_for_app(self, app: str) -> Rollout | None:
        with self._read():
            found = self._rollouts(f"app = ? AND {_NOT_TERMINAL}", [app, *_TERMINAL], limit=1)
        return found[0] if found else None

    def _active_id(self, app: str) -> int | None:
        row = self._db.execute(
            f"SELECT id FROM rollouts WHERE app = ? AND {_NOT_TERMINAL} ORDER BY id DESC LIMIT 1",
            [app, *_TERMINAL],
        ).fetchone()
        return None if row is None else int(row[0])

    def _rollouts(self, where: str, params: Sequence[Any], *, limit: int) -> list[Rollout]:
        rows = list(
            self._db.query(
                f"SELECT * FROM rollouts WHERE {where} ORDER BY id DESC LIMIT ?",
                [*params, max(0, limit)],
            )
        )
        out = []
        for row in rows:
            # _target_rows returns rows in stored position order, so the tuple reads as saved.
            targets = [codec.target_from(v) for v in self._target_rows(row["id"]).values()]
            approvals = [codec.approval_from(v) for v in self._approval_rows(row["id"])]
            out.append(codec.rollout_from(row, targets, approvals))
        return out

    def _target_rows(self, rollout_id: int) -> dict[str, tuple[Any, ...]]:
        cursor = self._db.execute(
            f"SELECT {', '.join(codec.TARGET_COLUMNS)} FROM targets "
            "WHERE rollout_id = ? ORDER BY position",
            [rollout_id],
        )
        return {values[0]: tuple(values) for values in cursor.fetchall()}

    def _approval_rows(self, rollout_id: int) -> list[tuple[Any, ...]]:
        cursor = self._db.execute(
            f"SELECT {', '.join(codec.APPROVAL_COLUMNS)} FROM approvals "
            "WHERE rollout_id = ? ORDER BY position",
            [rollout_id],
        )
        return [tuple(values) for values in cursor.fetchall()]

    def _write_targets(self, rollout: Rollout, *, previous: dict[str, tuple[Any, ...]]) -> None:
        # Only rows that differ are written: saving after one tenant moved costs one row.
        # One prepared statement for all of them: a batch of thousands of tenants through
        # a row-by-row upsert kept the engine's one driver busy for seconds per save.
        changed = []
        for position, target in enumerate(rollout.targets):
            values = codec.target_values(position, target)
            if previous.get(target.namespace) != values:
                changed.append((rollout.id, *values))
        if changed:
            self._db.conn.executemany(UPSERT_TARGET, changed)
        for namespace in previous.keys() - {t.namespace for t in rollout.targets}:
            self._db.table("targets").delete((rollout.id, namespace))

    def _write_approvals(self, rollout: Rollout, *, previous: list[tuple[Any, ...]]) -> None:
        wanted = [codec.approval_values(a) for a in rollout.approvals]
        if wanted == previous:
            return
        table = self._db.table("approvals")
        table.delete_where("rollout_id = ?", [rollout.id])
        table.insert_all(
            {"rollout_id": rollout.id, "position": position}
            | dict(zip(codec.APPROVAL_COLUMNS, values, strict=True))
            for position, values in enumerate(wanted)
        )

    # -- audit

    def record_audit(self, entry: AuditEntry) -> None:
        row = codec.audit_row(entry)
        with self._write() as db:
            db.table("audit").insert(row)

    def audit_log(self, *, rollout_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest `limit` entries, oldest first, like the tail of a log file."""
        where, params = ("rollout_id = ?", [rollout_id]) if rollout_id is not None else ("1", [])
        with self._read() as db:
            rows = list(
                db.query(
                    f"SELECT * FROM audit WHERE {where} ORDER BY id DESC LIMIT ?",
                    [*params, max(0, limit)],
                )
            )
        return [codec.audit_from(row) for row in reversed(rows)]

    # -- inbox

    def enqueue(self, item: InboxItem) -> int:
        """Queue a request for the rollout's driver; returns its ID (the item's own is ignored)."""
        row = codec.inbox_row(item)
        with self._write() as db:
            cursor = db.execute(
                f"INSERT INTO inbox ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def take_inbox(self, rollout_id: int) -> list[InboxItem]:
        """Pending requests, oldest first, marked taken in the same transaction."""
        # Asked every half second while a rollout runs and nearly always empty: a read
        # answers that, without a write transaction holding the journal from the engine.
        with self._read() as db:
            pending = db.execute(
                "SELECT 1 FROM inbox WHERE rollout_id = ? AND taken_at IS NULL LIMIT 1",
                [rollout_id],
            ).fetchone()
        if pending is None:
            return []
        with self._write() as db:
            rows = list(
                db.query(
                    "SELECT * FROM inbox WHERE rollout_id = ? AND taken_at IS NULL ORDER BY id",
                    [rollout_id],
                )
            )
            if rows:
                db.execute(
                    "UPDATE inbox SET taken_at = ? "
                    "WHERE rollout_id = ? AND taken_at IS NULL AND id <= ?",
                    [codec.dump_time(datetime.now(UTC)), rollout_id, rows[-1]["id"]],
                )
        return [codec.inbox_from(row) for row in rows]
