"""What a power cut may not take: a batch's pre-patch records.

A killed process loses nothing SQLite had committed, but a power cut also loses what the
OS had not yet written to disk. If it took a tenant's "updating, previous image X" record
while the patch had already reached the cluster, a restart would see the tenant untouched,
read its "previous" image from the cluster (already the new one) and could not roll it
back. So the records of a whole batch are committed in one transaction, synced to disk,
before the first of its patches is sent.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from rollout.model import Phase, TargetStatus
from tests.scenarios.conftest import OLD_ISP, MakeWorld, World

SYNCHRONOUS_FULL = 2  # PRAGMA synchronous: the WAL is synced to disk at every commit
WRITES = ("INSERT", "UPDATE", "DELETE")


@dataclass(frozen=True)
class Commit:
    """One write transaction of the journal, as it committed."""

    statements: tuple[str, ...]
    patches_seen: int  # PATCH requests the simulated API server had received by then

    def writes_targets(self, text: str) -> str | None:
        """The SQL writing target rows that contains `text`, if any, joined."""
        found = [
            sql for sql in self.statements
            if sql.startswith(WRITES) and '"targets"' in sql and text in sql
        ]  # fmt: skip
        return "\n".join(found) or None


class WatchedJournal:
    """The journal's real connection, traced: every write transaction is kept as it
    commits, with the simulated API server's PATCH count at that moment."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._open: list[str] = []
        self.commits: list[Commit] = []
        # The store runs one statement at a time behind its lock, so no lock is needed here.
        world.store._db.conn.set_trace_callback(self._trace)

    def _trace(self, sql: str) -> None:
        if sql == "BEGIN IMMEDIATE":
            self._open = []
        elif sql == "COMMIT":
            self.commits.append(Commit(tuple(self._open), patches(self._world)))
        else:
            self._open.append(sql)

    def synchronous(self) -> int:
        (level,) = self._world.store._db.conn.execute("PRAGMA synchronous").fetchone()
        return int(level)


def patches(world: World) -> int:
    return int(world.sim.counters()["verbs"].get("patch", 0))


def targets_on_disk(db: Path) -> dict[str, tuple[str, str | None]]:
    """Each tenant's status and previous image, as another process would read them now."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT namespace, status, previous_image FROM targets").fetchall()
    return {namespace: (status, previous) for namespace, status, previous in rows}


def test_a_batch_of_twenty_is_journalled_in_one_synced_commit_before_any_patch(
    make_world: MakeWorld,
) -> None:
    # Given one batch of twenty tenants, and the journal's commits watched as they happen
    world = make_world(tenants=20, batch_size=20, pilot_count=0)
    journal = WatchedJournal(world)

    # When the rollout runs to its end
    final = world.follow(world.start().id)

    # Then one transaction recorded all twenty as updating, before the cluster saw a PATCH
    assert final.phase is Phase.COMPLETED, final.reason
    intents = [c for c in journal.commits if c.writes_targets(f"'{TargetStatus.UPDATING}'")]
    assert len(intents) == 1, [c.patches_seen for c in intents]
    (intent,) = intents
    assert intent.patches_seen == 0
    written = intent.writes_targets(f"'{TargetStatus.UPDATING}'") or ""
    assert [ns for ns in world.tenants if f"'{ns}'" not in written] == []
    assert patches(world) == 20
    # And that commit reached the disk before it returned: the connection syncs every commit
    assert journal.synchronous() == SYNCHRONOUS_FULL


def test_every_tenant_of_the_batch_is_on_disk_when_the_first_patch_is_sent(
    make_world: MakeWorld,
) -> None:
    # Given one batch of twenty tenants, and a look at the journal file from another
    # connection at the moment the first patch is about to be sent (the others wait)
    world = make_world(tenants=20, batch_size=20, pilot_count=0)
    first_look: list[tuple[int, dict[str, tuple[str, str | None]]]] = []
    lock = threading.Lock()

    def look(namespace: str) -> None:
        with lock:
            if not first_look:
                first_look.append((patches(world), targets_on_disk(world.db)))

    world.gate_patches(look)

    # When the rollout runs to its end
    final = world.follow(world.start().id)

    # Then at that moment every tenant was already recorded updating with its old image
    assert final.phase is Phase.COMPLETED, final.reason
    ((patches_seen, on_disk),) = first_look
    assert patches_seen == 0
    assert on_disk == dict.fromkeys(world.tenants, (TargetStatus.UPDATING.value, OLD_ISP))
