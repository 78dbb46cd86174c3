"""What the SQLite journal writes, and when: a save writes the target rows that changed
and no others, and a poll of an empty inbox writes nothing at all."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.store import SqliteStore
from rollout.model import InboxItem, TargetStatus
from tests.builders import T0, make_rollout, planned_targets


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[SqliteStore, list[str]]]:
    store = SqliteStore(tmp_path / "rollbot.db")
    statements: list[str] = []
    store._db.conn.set_trace_callback(statements.append)
    yield store, statements
    store.close()


def target_writes(statements: list[str]) -> list[str]:
    return [sql for sql in statements if sql.startswith("INSERT") and '"targets"' in sql]


def test_a_save_writes_only_the_targets_that_changed(
    traced: tuple[SqliteStore, list[str]],
) -> None:
    # Given a rollout of 500 tenants in the journal
    store, statements = traced
    plan = {f"tenant-{i:03}": 1 + i // 100 for i in range(500)}
    stored = store.create_rollout(make_rollout(targets=planned_targets(plan)))
    assert len(target_writes(statements)) == 500

    # When two of them move and it is saved
    statements.clear()
    moved = [
        replace(stored.target(ns), status=TargetStatus.UPDATING, previous_image="repo/isp:v1.2.3")
        for ns in ("tenant-007", "tenant-420")
    ]
    saved = store.save(stored.with_targets(moved))

    # Then two rows were written, and the journal reads back every tenant as saved
    written = target_writes(statements)
    assert len(written) == 2
    assert {ns for ns in ("tenant-007", "tenant-420") for w in written if f"'{ns}'" in w} == {
        "tenant-007",
        "tenant-420",
    }
    assert store.get(saved.id) == saved


def test_polling_an_empty_inbox_writes_nothing(traced: tuple[SqliteStore, list[str]]) -> None:
    store, statements = traced
    assert store.take_inbox(1) == []
    assert not [sql for sql in statements if sql.startswith(("BEGIN IMMEDIATE", "UPDATE"))]

    store.enqueue(InboxItem(1, "approve", "U0BOB", T0))
    statements.clear()
    assert [i.action for i in store.take_inbox(1)] == ["approve"]
    assert [sql for sql in statements if sql.startswith("UPDATE")]
