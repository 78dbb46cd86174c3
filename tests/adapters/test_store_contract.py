"""One contract for every journal: the in-memory store and the SQLite store pass the same tests.

The engine is written against :class:`rollout.ports.Store`; if the two stores drifted
apart, a scenario could pass in memory and fail on disk. The SQLite-only tests at the end
cover what memory cannot show: other processes, reopening, and schema versions.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from bot.memstore import MemoryStore
from bot.slack.outbox import Outbox
from bot.store import SCHEMA_VERSION, JournalError, SchemaTooNew, SqliteStore, StaleRollout, codec
from bot.store.schema import MIGRATIONS
from rollout.actions import DECISIONS, Action
from rollout.errors import RolloutConflict, UnknownRollout
from rollout.model import (
    Approval,
    AuditEntry,
    BlueGreen,
    InboxItem,
    OsAccount,
    Phase,
    Retries,
    Rollout,
    Settings,
    Strategy,
    Target,
    TargetStatus,
)
from rollout.ports import Store
from tests.builders import make_rollout, planned_targets

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
StoreFactory = Callable[[], Store]
FACTORIES: dict[str, StoreFactory] = {
    "memory": MemoryStore,
    "sqlite": lambda: SqliteStore(":memory:"),
}


@pytest.fixture(params=["memory", "sqlite-file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    with SqliteStore(tmp_path / "rollbot.db") as sqlite_store:
        yield sqlite_store


def rollout(app: str = "isp", *, tenants: int = 3, **changes: Any) -> Rollout:
    """Not yet stored (id 0), with `tenants` pending targets, two to a batch after #0."""
    plan = {f"tenant-{i:03d}": 1 + i // 2 for i in range(tenants)}
    standard: dict[str, Any] = {
        "id": 0,
        "app": app,
        "image": "registry.example/dotmac/isp-ops-app",
        "created_at": T0,
        "targets": planned_targets(plan),
    }
    return make_rollout(**{**standard, **changes})


def audit(user: str, *, rollout_id: int | None = None, minute: int = 0) -> AuditEntry:
    return AuditEntry(
        at=T0 + timedelta(minutes=minute), user=user, action="deploy", outcome="ok",
        rollout_id=rollout_id,
    )  # fmt: skip


def request(rollout_id: int, action: str = "approve", *, user: str = "U0BOB") -> InboxItem:
    return InboxItem(rollout_id=rollout_id, action=action, user=user, at=T0)


# --- rollouts -------------------------------------------------------------------------------


def test_create_assigns_small_increasing_ids_and_get_returns_what_was_stored(store: Store) -> None:
    first = store.create_rollout(rollout("isp"))
    second = store.create_rollout(rollout("admin", strategy=Strategy.BLUE_GREEN))

    assert (first.id, second.id) == (1, 2)
    assert store.get(1) == first
    assert store.get(2) == second
    assert store.get(3) is None


def test_save_bumps_the_lock_version_and_stores_the_new_state(store: Store) -> None:
    created = store.create_rollout(rollout())
    moved = created.with_phase(Phase.PILOT).with_targets(
        [created.targets[0].with_status(TargetStatus.UPDATING, at=T0)]
    )

    saved = store.save(moved)

    assert saved.lock_version == created.lock_version + 1
    assert saved == replace(moved, lock_version=saved.lock_version)
    assert store.get(created.id) == saved


def test_a_stale_copy_is_refused_and_the_journal_keeps_the_newer_state(store: Store) -> None:
    created = store.create_rollout(rollout())
    newer = store.save(created.with_phase(Phase.PILOT))

    with pytest.raises(StaleRollout) as refused:
        store.save(created.with_phase(Phase.CANCELLED))

    assert refused.value.rollout_id == created.id
    assert (refused.value.given, refused.value.stored) == (0, 1)
    assert store.get(created.id) == newer


def test_saving_a_rollout_that_was_never_created_is_refused(store: Store) -> None:
    with pytest.raises(UnknownRollout):
        store.save(rollout(id=41))


def test_a_second_active_rollout_of_an_app_is_refused_naming_the_active_one(store: Store) -> None:
    active = store.create_rollout(rollout("isp"))
    store.create_rollout(rollout("admin"))

    with pytest.raises(RolloutConflict) as refused:
        store.create_rollout(rollout("isp", version="v1.4.0"))

    assert (refused.value.app, refused.value.active_id) == ("isp", active.id)
    store.save(active.with_phase(Phase.COMPLETED))
    assert store.create_rollout(rollout("isp", version="v1.4.0")).id == 3


def test_only_one_of_many_racing_creates_for_one_app_wins(store: Store) -> None:
    def attempt(_: int) -> str:
        try:
            store.create_rollout(rollout("isp"))
        except RolloutConflict:
            return "refused"
        return "created"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(16), timeout=30))

    assert sorted(outcomes).count("created") == 1
    assert len(store.list_rollouts(app="isp")) == 1


def test_list_is_newest_first_and_filters_by_app_and_activity(store: Store) -> None:
    one = store.save(store.create_rollout(rollout("isp")).with_phase(Phase.COMPLETED))
    two = store.create_rollout(rollout("admin"))
    three = store.create_rollout(rollout("isp", version="v1.4.0"))

    assert [r.id for r in store.list_rollouts()] == [three.id, two.id, one.id]
    assert [r.id for r in store.list_rollouts(app="isp")] == [three.id, one.id]
    assert [r.id for r in store.list_rollouts(active=True)] == [three.id, two.id]
    assert [r.id for r in store.list_rollouts(active=False)] == [one.id]
    assert [r.id for r in store.list_rollouts(limit=1)] == [three.id]
    assert store.list_rollouts(app="nope") == []


def test_list_filters_by_phase_newest_first(store: Store) -> None:
    # Given an app with a completed, a rolled back and a later completed rollout
    one = store.save(store.create_rollout(rollout("isp")).with_phase(Phase.COMPLETED))
    store.save(store.create_rollout(rollout("isp")).with_phase(Phase.ROLLED_BACK))
    three = store.save(store.create_rollout(rollout("isp")).with_phase(Phase.COMPLETED))
    store.create_rollout(rollout("admin"))

    # When the completed ones of the app are asked for
    completed = store.list_rollouts(app="isp", phase=Phase.COMPLETED)

    # Then only those come back, newest first, and the limit counts only them
    assert [r.id for r in completed] == [three.id, one.id]
    assert [r.id for r in store.list_rollouts(phase=Phase.COMPLETED, limit=1)] == [three.id]


def test_active_for_app_finds_the_unfinished_rollout_only(store: Store) -> None:
    assert store.active_for_app("isp") is None
    created = store.create_rollout(rollout("isp"))
    assert store.active_for_app("isp") == created
    store.save(created.with_phase(Phase.ROLLED_BACK))
    assert store.active_for_app("isp") is None


def test_count_active_counts_unfinished_rollouts(store: Store) -> None:
    assert store.count_active() == 0
    one = store.create_rollout(rollout("isp"))
    store.create_rollout(rollout("admin"))
    assert store.count_active() == 2
    store.save(one.with_phase(Phase.COMPLETED))
    assert store.count_active() == 1


def test_targets_keep_their_order_and_may_be_reordered_or_dropped(store: Store) -> None:
    created = store.create_rollout(rollout(tenants=5))
    reordered = replace(created, targets=tuple(reversed(created.targets[1:])))

    saved = store.save(reordered)

    assert store.get(created.id) == saved
    assert [t.namespace for t in saved.targets] == [
        "tenant-004", "tenant-003", "tenant-002", "tenant-001",
    ]  # fmt: skip


def test_naive_datetimes_and_duplicate_tenants_are_refused_before_writing(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.create_rollout(rollout(created_at=datetime(2026, 3, 1, 9, 30)))
    twice = (Target("tenant-a", batch=1), Target("tenant-a", batch=2))
    with pytest.raises(ValueError, match="twice"):
        store.create_rollout(rollout(targets=twice))
    assert store.list_rollouts() == []


# --- audit and inbox ------------------------------------------------------------------------


def test_audit_keeps_every_entry_and_returns_the_latest_oldest_first(store: Store) -> None:
    for minute in range(5):
        store.record_audit(audit(f"U{minute}", rollout_id=1 if minute % 2 else None, minute=minute))
    refusal = AuditEntry(
        at=T0, user="U0EVE", action="approve", outcome="refused", rollout_id=7,
        detail="four eyes: the requester cannot approve", source="slack",
        extra={"channel": "C0RELEASES", "gate": "1"},
    )  # fmt: skip
    store.record_audit(refusal)

    assert [e.user for e in store.audit_log()] == ["U0", "U1", "U2", "U3", "U4", "U0EVE"]
    assert [e.user for e in store.audit_log(limit=2)] == ["U4", "U0EVE"]
    assert [e.user for e in store.audit_log(rollout_id=1)] == ["U1", "U3"]
    assert store.audit_log(rollout_id=7) == [refusal]


def test_inbox_hands_each_request_out_once_in_order_per_rollout(store: Store) -> None:
    first = store.enqueue(request(1, "approve"))
    other = store.enqueue(request(2, "pause"))
    second = store.enqueue(
        replace(request(1, "rollback"), tenants=("tenant-a", "tenant-b"), source="slack")
    )

    taken = store.take_inbox(1)

    assert [(i.id, i.action) for i in taken] == [(first, "approve"), (second, "rollback")]
    assert taken[1] == InboxItem(
        rollout_id=1, action="rollback", user="U0BOB", at=T0,
        tenants=("tenant-a", "tenant-b"), source="slack", id=second,
    )  # fmt: skip
    assert store.take_inbox(1) == []
    assert [i.id for i in store.take_inbox(2)] == [other]
    assert len({first, second, other}) == 3


def test_requests_and_decisions_come_back_as_the_values_they_were(store: Store) -> None:
    # Given a request for every action, and a rollout with a decided approval gate
    for action in Action:
        store.enqueue(request(1, action))
    decisions = (Approval(user="U0BOB", decision=Action.APPROVE, at=T0, gate=1),
                 Approval(user="U0CAROL", decision=Action.REJECT, at=T0, gate=1))
    stored = store.create_rollout(rollout(approvals=decisions))

    # When they are read back
    taken = store.take_inbox(1)
    found = store.get(stored.id)

    # Then each names its action as the value itself, not a word to compare
    assert [item.action for item in taken] == list(Action)
    assert all(isinstance(item.action, Action) for item in taken)
    assert found is not None
    assert [a.decision for a in found.approvals] == [Action.APPROVE, Action.REJECT]
    assert all(isinstance(a.decision, Action) for a in found.approvals)


def test_terminal_requests_and_audit_rows_keep_the_os_account_beside_the_person(
    store: Store,
) -> None:
    # Given a request and an audit row typed at a terminal, and one from Slack
    typed = replace(request(1, "approve", user="U0BOB"), os_account=OPS)
    store.enqueue(typed)
    store.enqueue(replace(request(1, "pause"), source="slack"))
    row = replace(audit("U0BOB", rollout_id=1), os_account=OsAccount("ops", "build-7"))
    store.record_audit(row)

    # When they are read back, then the terminal ones name their account, Slack's none
    taken = store.take_inbox(1)
    assert [(i.user, i.os_account) for i in taken] == [("U0BOB", OPS), ("U0BOB", None)]
    assert store.audit_log(rollout_id=1) == [row]


def test_threads_taking_the_inbox_at_once_never_share_a_request(store: Store) -> None:
    ids = {store.enqueue(request(1, f"action-{n}")) for n in range(200)}
    start = threading.Barrier(4, timeout=10)

    def drain(_: int) -> list[int]:
        start.wait()
        return [item.id for _ in range(20) for item in store.take_inbox(1)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        taken = [i for batch in pool.map(drain, range(4), timeout=30) for i in batch]

    assert sorted(taken) == sorted(ids)


# --- round trip -----------------------------------------------------------------------------


OPS = OsAccount("alice@corp.example", "build-7")  # directory logins may hold an "@"


def every_field_set() -> Rollout:
    later = T0 + timedelta(minutes=5)
    return Rollout(
        id=0, app="admin", strategy=Strategy.BLUE_GREEN, version="v1.3.1-rc.1+b.5",
        image="localhost:5000/dotmac/platform-admin-app", requested_by="U0ALICE",
        created_at=T0.astimezone(timezone(timedelta(hours=2))),
        settings=Settings(
            batch_size=3, batch_percent=10, waves="double", wait_seconds=0, pilot_count=0,
            pilot_tenants=("tenant-x", "tenant-y"), pilot_monitor_seconds=1,
            monitor_seconds=7, rollout_timeout_seconds=9, approval=False, approvals_required=3,
            four_eyes=False, approval_timeout_seconds=60, auto_rollback=True,
            error_rate=0.125, latency_factor=None, remove_old_after_seconds=3600,
        ),
        phase=Phase.PAUSED,
        targets=(
            Target("platform-admin", batch=0, status=TargetStatus.ROLLBACK_FAILED,
                   previous_image="x:v1.2.0", started_at=T0, finished_at=later, attempts=2,
                   reason="probe said \"no\" — ünïcode", baseline_latency_ms=41.5,
                   outcome=TargetStatus.FAILED, previous_revision=3, revision=5),
        ),
        batch_count=4, current_batch=2, deadline=later, start_at=T0, paused_from=Phase.WAITING,
        approvals=(
            Approval("U0BOB", "approve", T0, 1, os_account=OPS),
            Approval("U0CAROL", "reject", later, 1),
        ),
        reason="paused by U0BOB", finished_at=later,
        blue_green=BlueGreen(
            namespace="platform-admin", service="platform-admin-app", old_version="v1.2.0",
            old_deployment="platform-admin-app", old_config_map=None,
            new_deployment="platform-admin-app-v1-3-1", new_config_map="cfg-v1.3.1",
            switched=True, old_removed=False,
        ),
        rollback_of=("tenant-a",), source="slack", lock_version=7, channel="C0DEPLOYS",
        requested_from=OsAccount("ci-runner", "build-7.example.com"),
        retries=Retries.of({"patch": 9, "read": 3}),
    )  # fmt: skip


def test_every_field_survives_create_save_and_get(store: Store) -> None:
    created = store.create_rollout(every_field_set())
    assert store.get(created.id) == created
    saved = store.save(replace(created, rollback_of=(), blue_green=None, approvals=()))
    assert store.get(created.id) == saved
    assert store.get(created.id).created_at.utcoffset() == timedelta(0)  # type: ignore[union-attr]


_TEXT = st.text(max_size=12)
_WHEN = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                               timezone(timedelta(hours=-8))]),
)  # fmt: skip
_INT = st.integers(min_value=-(2**40), max_value=2**40)
_SETTINGS = st.builds(
    Settings,
    batch_size=_INT, batch_percent=st.none() | _INT, waves=_TEXT, wait_seconds=_INT,
    pilot_tenants=st.lists(_TEXT, max_size=3).map(tuple),
    error_rate=st.floats(allow_nan=False, allow_infinity=False),
    latency_factor=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    remove_old_after_seconds=st.none() | _INT, approval=st.booleans(),
)  # fmt: skip
_TARGET = st.builds(
    Target,
    namespace=_TEXT, batch=_INT, status=st.sampled_from(TargetStatus),
    previous_image=st.none() | _TEXT, started_at=st.none() | _WHEN,
    finished_at=st.none() | _WHEN, attempts=_INT, reason=_TEXT,
    baseline_latency_ms=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    outcome=st.none() | st.sampled_from(TargetStatus),
    previous_revision=st.none() | _INT, revision=st.none() | _INT,
)  # fmt: skip
_ROLLOUT = st.builds(
    Rollout,
    id=st.just(0), app=_TEXT, strategy=st.sampled_from(Strategy), version=_TEXT, image=_TEXT,
    requested_by=_TEXT, created_at=_WHEN, settings=_SETTINGS, phase=st.sampled_from(Phase),
    targets=st.lists(_TARGET, max_size=4, unique_by=lambda t: t.namespace).map(tuple),
    batch_count=_INT, current_batch=_INT, deadline=st.none() | _WHEN,
    start_at=st.none() | _WHEN, paused_from=st.none() | st.sampled_from(Phase),
    approvals=st.lists(st.builds(Approval, user=_TEXT, decision=st.sampled_from(sorted(DECISIONS)),
                                 at=_WHEN, gate=_INT),
                       max_size=3).map(tuple),
    reason=_TEXT, finished_at=st.none() | _WHEN,
    blue_green=st.none() | st.builds(
        BlueGreen, namespace=_TEXT, service=_TEXT, old_version=st.none() | _TEXT,
        old_deployment=st.none() | _TEXT, new_deployment=_TEXT, switched=st.booleans(),
    ),
    rollback_of=st.none() | st.lists(_TEXT, max_size=3).map(tuple), source=_TEXT,
    lock_version=_INT, channel=_TEXT,
    retries=st.dictionaries(_TEXT, st.integers(min_value=1, max_value=2**40)).map(Retries.of),
)  # fmt: skip


@pytest.mark.parametrize("kind", sorted(FACTORIES))
@settings(max_examples=40, deadline=None)
@given(first=_ROLLOUT, second=_ROLLOUT)
def test_any_rollout_round_trips_exactly(kind: str, first: Rollout, second: Rollout) -> None:
    store = FACTORIES[kind]()
    created = store.create_rollout(first)
    assert store.get(created.id) == created
    saved = store.save(
        replace(second, id=created.id, app=first.app, lock_version=created.lock_version)
    )
    assert store.get(created.id) == saved


# --- SQLite only ----------------------------------------------------------------------------


def test_saving_one_changed_tenant_of_a_thousand_writes_one_target_row(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "rollbot.db") as store:
        created = store.create_rollout(rollout(tenants=1000))
        moved = created.with_targets(
            [created.targets[500].with_status(TargetStatus.UPDATING, at=T0)]
        )
        written: list[str] = []
        store._db.conn.set_trace_callback(written.append)

        store.save(moved)

        store._db.conn.set_trace_callback(None)
    writes = ("INSERT", "UPDATE", "DELETE")
    target_writes = [sql for sql in written if "targets" in sql and sql.startswith(writes)]
    assert len(target_writes) == 1, target_writes
    assert all("tenant-500" in sql for sql in target_writes)


def test_every_connection_to_the_journal_file_syncs_each_commit_to_disk(tmp_path: Path) -> None:
    # Given the journal and the Slack outbox open on one file, as rollbot runs them
    path = tmp_path / "rollbot.db"
    with SqliteStore(path) as store:
        outbox = Outbox(path)
        try:
            # When each connection is asked how it syncs
            levels = {
                "journal": store._db.conn.execute("PRAGMA synchronous").fetchone(),
                "outbox": outbox._db.conn.execute("PRAGMA synchronous").fetchone(),
            }
            modes = {
                "journal": store._db.conn.execute("PRAGMA journal_mode").fetchone(),
                "outbox": outbox._db.conn.execute("PRAGMA journal_mode").fetchone(),
            }
        finally:
            outbox.close()

    # Then both are FULL (2): a commit is on disk before it returns, so a power cut
    # cannot take a record whose patch (or Slack post) was sent after it
    assert levels == {"journal": (2,), "outbox": (2,)}
    assert modes == {"journal": ("wal",), "outbox": ("wal",)}


def test_reopening_the_file_keeps_rollouts_audit_and_pending_requests(tmp_path: Path) -> None:
    path = tmp_path / "rollbot.db"
    with SqliteStore(path) as store:
        created = store.create_rollout(every_field_set())
        store.record_audit(audit("U0ALICE", rollout_id=created.id))
        pending = store.enqueue(request(created.id))

    with SqliteStore(path) as store:
        assert store.get(created.id) == created
        assert [e.user for e in store.audit_log()] == ["U0ALICE"]
        assert [i.id for i in store.take_inbox(created.id)] == [pending]
        assert store.create_rollout(rollout("isp")).id == created.id + 1
        assert store.schema_version == SCHEMA_VERSION


def test_a_journal_from_a_newer_rollbot_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "rollbot.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()

    with pytest.raises(SchemaTooNew) as refused:
        SqliteStore(path)

    message = str(refused.value)
    assert "schema version 99" in message
    assert str(path) in message
    assert "upgrade rollbot" in message


@pytest.mark.parametrize("problem", ["no-directory", "not-a-database"])
def test_a_journal_that_cannot_be_used_is_refused_naming_the_file(
    tmp_path: Path, problem: str
) -> None:
    path = tmp_path / "missing" / "rollbot.db"
    if problem == "not-a-database":
        path = tmp_path / "rollbot.yaml"
        path.write_bytes(b"slack:\n  release_channels: []\n" * 200)

    with pytest.raises(JournalError) as refused:
        SqliteStore(path)

    assert str(path) in str(refused.value)


def test_a_file_from_before_the_journal_existed_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "rollbot.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE unrelated (x)")
    conn.close()

    with SqliteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.create_rollout(rollout()).id == 1


def test_the_channel_a_rollout_was_asked_for_in_is_kept(store: Store) -> None:
    created = store.create_rollout(rollout(source="slack", channel="C0DEPLOYS"))
    assert store.get(created.id) == created and created.channel == "C0DEPLOYS"
    saved = store.save(replace(created, phase=Phase.PILOT))
    assert store.get(created.id) == saved and saved.channel == "C0DEPLOYS"
    assert store.create_rollout(rollout("admin")).channel == ""


def test_a_journal_of_schema_version_1_is_migrated_and_its_rollouts_read_as_before(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rollbot.db"
    old = replace(every_field_set(), id=1, lock_version=3)
    write_v1_journal(path, old)

    with SqliteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        unmeasured = tuple(
            replace(t, baseline_latency_ms=None, outcome=None, previous_revision=None,
                    revision=None)
            for t in old.targets
        )
        untyped = tuple(replace(a, os_account=None) for a in old.approvals)
        assert store.get(1) == replace(
            old,
            channel="",
            targets=unmeasured,
            approvals=untyped,
            requested_from=None,
            retries=Retries(),
        )
        saved = store.save(replace(store.get(1) or old, channel="C0DEPLOYS"))
    with SqliteStore(path) as reopened:
        assert reopened.get(1) == saved and saved.channel == "C0DEPLOYS"


@pytest.mark.parametrize("removed", [True, False])
def test_a_blue_green_side_stored_before_old_gone_existed_reads_as_removal_done(
    tmp_path: Path, removed: bool
) -> None:
    # Given a journal row written before the `old_gone` field existed
    path = tmp_path / "rollbot.db"
    stored = replace(every_field_set(), id=1)
    assert stored.blue_green is not None
    bg = replace(stored.blue_green, old_removed=removed)
    with SqliteStore(path) as store:
        created = store.create_rollout(replace(stored, blue_green=bg, phase=Phase.COMPLETED))
    conn = sqlite3.connect(path)
    try:
        (text,) = conn.execute(
            "SELECT blue_green FROM rollouts WHERE id = ?", [created.id]
        ).fetchone()
        fields = json.loads(text)
        del fields["old_gone"]
        conn.execute(
            "UPDATE rollouts SET blue_green = ? WHERE id = ?", [json.dumps(fields), created.id]
        )
        conn.commit()
    finally:
        conn.close()

    # When it is read, then a removal it records is taken as done, not to be sent again
    with SqliteStore(path) as store:
        read = store.get(created.id)
    assert read is not None and read.blue_green is not None
    assert read.blue_green.old_gone is removed
    assert not read.old_side_removal_unconfirmed


def write_v1_journal(path: Path, stored: Rollout) -> None:
    """A journal as rollbot wrote it at schema version 1 (no `channel` or `retries` column,
    no target `baseline_latency_ms`, `outcome` or Helm revisions, no terminal accounts),
    holding `stored`
    and its targets and approvals."""
    conn = sqlite3.connect(path)
    try:
        db = Database(conn)
        db.table("meta").create({"key": str, "value": str}, pk="key")
        MIGRATIONS[0](db)
        db.table("meta").insert({"key": "schema_version", "value": "1"})
        row = codec.rollout_row(stored)
        del row["channel"], row["requested_from"], row["retries"]
        db.table("rollouts").insert(row)
        for position, target in enumerate(stored.targets):
            values = codec.target_values(position, target)
            row = dict(zip(codec.TARGET_COLUMNS, values, strict=True))
            del row["baseline_latency_ms"], row["outcome"]
            del row["previous_revision"], row["revision"]
            db.table("targets").insert({"rollout_id": stored.id, **row})
        for position, approval in enumerate(stored.approvals):
            values = codec.approval_values(approval)
            row = dict(zip(codec.APPROVAL_COLUMNS, values, strict=True))
            del row["os_account"]
            db.table("approvals").insert({"rollout_id": stored.id, "position": position} | row)
        conn.commit()
        assert "channel" not in db.table("rollouts").columns_dict
        assert "baseline_latency_ms" not in db.table("targets").columns_dict
    finally:
        conn.close()


def _worker(path: str, name: str, count: int, start: Any, results: Any) -> None:
    """Enqueue `count` requests for rollout 1 while taking whatever is pending."""
    store = SqliteStore(path)
    start.wait(timeout=30)
    enqueued: list[int] = []
    taken: list[int] = []
    for n in range(count):
        enqueued.append(store.enqueue(request(1, f"{name}-{n}")))
        if n % 3 == 0:
            taken.extend(item.id for item in store.take_inbox(1))
    store.close()
    results.put((enqueued, taken))


def test_two_processes_enqueue_and_take_without_loss_or_duplication(tmp_path: Path) -> None:
    path = str(tmp_path / "rollbot.db")
    SqliteStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(path, name, 150, start, results)) for name in "ab"]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    enqueued = [i for done, _ in outcomes for i in done]
    taken = [i for _, got in outcomes for i in got]
    with SqliteStore(path) as store:
        taken += [item.id for item in store.take_inbox(1)]
    assert len(enqueued) == len(set(enqueued)) == 300
    assert sorted(taken) == sorted(enqueued)
