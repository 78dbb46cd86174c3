"""One contract for the release journal: the in-memory store and the SQLite file pass the
same tests, as the rollout journal's do (``test_store_contract.py``).

Given a journal, when releases are created, saved and read back, then IDs count from 1,
one release is active at a time, stale copies are refused, and every field of every step
comes back as it went in. The file-only tests at the end cover reopening and migration.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.memstore import MemoryStore
from bot.store import SCHEMA_VERSION, SqliteStore
from bot.store.release_codec import release_row
from bot.store.schema import MIGRATIONS
from rollout.model import OsAccount
from rollout.release import (
    Release,
    ReleasePhase,
    StepState,
    cancelled,
    deploy_started,
    finished,
    plan_steps,
    started,
)
from rollout.release.errors import ReleaseConflict, StaleRelease, UnknownRelease
from rollout.release.ports import ReleaseJournal

T0 = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite-file"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReleaseJournal]:
    if request.param == "memory":
        yield MemoryStore().releases
        return
    with SqliteStore(tmp_path / "rollbot.db") as store:
        yield store.releases


def release(version: str = "v1.3.1", **changes: object) -> Release:
    apps = ("admin", "isp")
    new = Release(id=0, version=version, apps=apps, requested_by="U0ALICE", created_at=T0,
                  steps=plan_steps(apps, build_only=False))
    return replace(new, **changes)  # type: ignore[arg-type]


def every_field_set() -> Release:
    r = release(ref="v1.3.1", revision="0123abcd" * 5, deploy_words=("batch=5", "wait=0s"),
                source="cli", channel="C0RELEASES", skip_checks=True,
                requested_from=OsAccount(user="ops", host="build-7"))
    for key in ("preflight", "install", "shared-build", "checks", "image:admin", "image:isp",
                "push:admin", "push:isp", "verify:admin", "verify:isp"):
        r = started(r, key, now=T0, log_path=f"/var/log/rollbot/R1/{key}.log")
        r = finished(r, key, now=T0 + timedelta(seconds=2.5), digest="sha256:" + "a" * 64
                     if key.startswith("verify") else "", detail=f"{key} went fine")
    r = deploy_started(started(r, "deploy:admin", now=T0), "deploy:admin", rollout_id=41)
    return cancelled(replace(r, stop_requested_by="U0BOB"), user="U0BOB", now=T0)


def test_create_assigns_increasing_ids_and_get_returns_what_was_stored(
    journal: ReleaseJournal,
) -> None:
    first = journal.create_release(release())
    journal.save_release(replace(first, phase=ReleasePhase.FAILED))
    second = journal.create_release(release("v1.3.2"))
    assert (first.id, second.id) == (1, 2)
    assert journal.get_release(2) == second
    assert journal.get_release(3) is None


def test_one_release_is_active_at_a_time(journal: ReleaseJournal) -> None:
    """Given an active release, when another is created, then it is refused naming R1."""
    active = journal.create_release(release())
    with pytest.raises(ReleaseConflict) as refused:
        journal.create_release(release("v1.4.0"))
    assert refused.value.active_id == active.id
    assert "R1 is still active" in str(refused.value)
    journal.save_release(replace(active, phase=ReleasePhase.COMPLETED))
    assert journal.create_release(release("v1.4.0")).id == 2


def test_save_bumps_the_lock_version_and_refuses_a_stale_copy(journal: ReleaseJournal) -> None:
    created = journal.create_release(release())
    saved = journal.save_release(started(created, "preflight", now=T0))
    assert saved.lock_version == 1
    assert journal.get_release(created.id) == saved
    with pytest.raises(StaleRelease):
        journal.save_release(replace(created, phase=ReleasePhase.CANCELLED))
    with pytest.raises(UnknownRelease):
        journal.save_release(release(id=9))
    assert journal.get_release(created.id) == saved


def test_every_field_of_every_step_survives(journal: ReleaseJournal) -> None:
    created = journal.create_release(every_field_set())
    assert created == replace(every_field_set(), id=1)
    assert created.step("deploy:admin").detail == "left running as rollout #41"
    assert created.digest("isp") == "sha256:" + "a" * 64
    assert created.step("install").seconds == 2.5
    assert created.step("image:isp").log_path == "/var/log/rollbot/R1/image:isp.log"


def test_list_is_newest_first_and_filters(journal: ReleaseJournal) -> None:
    one = journal.create_release(release("v1.3.1"))
    journal.save_release(replace(one, phase=ReleasePhase.COMPLETED))
    two = journal.create_release(release("v1.3.2"))
    assert [r.id for r in journal.list_releases()] == [2, 1]
    assert [r.id for r in journal.list_releases(active=True)] == [2]
    assert [r.id for r in journal.list_releases(active=False)] == [1]
    assert [r.id for r in journal.list_releases(version="v1.3.1")] == [1]
    assert journal.active_release() == two
    assert journal.list_releases(limit=1)[0].id == 2


def test_naive_times_and_twice_listed_steps_are_refused(journal: ReleaseJournal) -> None:
    with pytest.raises(ValueError, match="naive"):
        journal.create_release(release(created_at=datetime(2026, 1, 1)))
    twice = release()
    with pytest.raises(ValueError, match="twice"):
        journal.create_release(replace(twice, steps=twice.steps + twice.steps[:1]))
    assert journal.list_releases() == []


# --- the file only --------------------------------------------------------------------------


def test_reopening_the_file_keeps_releases(tmp_path: Path) -> None:
    path = tmp_path / "rollbot.db"
    with SqliteStore(path) as store:
        created = store.releases.create_release(every_field_set())
    with SqliteStore(path) as reopened:
        assert reopened.releases.get_release(created.id) == created
        assert reopened.releases.active_release() is None


def test_a_journal_from_before_releases_is_migrated(tmp_path: Path) -> None:
    """Given a journal at schema version 5, when rollbot opens it, then the release tables
    are added and it is at the current version."""
    path = tmp_path / "rollbot.db"
    db = Database(sqlite3.connect(path))
    db.table("meta").create({"key": str, "value": str}, pk="key")
    for migration in MIGRATIONS[:5]:
        migration(db)
    db.table("meta").insert({"key": "schema_version", "value": "5"})
    db.conn.commit()
    db.conn.close()
    with SqliteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION >= 6
        assert store.releases.create_release(release()).step("install").state is (
            StepState.PENDING
        )


def test_a_journal_from_before_skip_checks_reads_its_releases_as_checked(tmp_path: Path) -> None:
    """Given a journal at schema version 7 holding a release, when rollbot opens it, then
    the release reads back without skip-checks, and a new one records it."""
    path = tmp_path / "rollbot.db"
    db = Database(sqlite3.connect(path))
    db.table("meta").create({"key": str, "value": str}, pk="key")
    for migration in MIGRATIONS[:7]:
        migration(db)
    db.table("meta").insert({"key": "schema_version", "value": "7"})
    old = {k: v for k, v in release_row(replace(release(), id=1)).items() if k != "skip_checks"}
    db.table("releases").insert(old)
    db.conn.commit()
    db.conn.close()
    with SqliteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION >= 8
        before = store.releases.get_release(1)
        assert before is not None and before.skip_checks is False
        assert store.releases.save_release(replace(before, skip_checks=True)).skip_checks
        assert store.releases.get_release(1).skip_checks  # type: ignore[union-attr]
