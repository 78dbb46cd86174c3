"""The journal's tables, and the ordered list of migrations that builds them.

A file records the schema version it was brought to in `meta`; opening it replays the
migrations it has not seen yet. Migrations are appended, never edited, so a journal written
by any older rollbot can be brought up to date, and one written by a newer rollbot is
refused rather than misread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sqlite_utils import Database

from rollout.errors import RollbotError


class JournalError(RollbotError):
    """The journal file cannot be used: missing directory, not a database, or too new."""


class SchemaTooNew(JournalError):
    """The file was written by a newer rollbot; reading it could misreport what it knows."""


def _create_v1(db: Database) -> None:
    db.table("rollouts").create(
        {
            "id": int, "app": str, "strategy": str, "version": str, "image": str,
            "requested_by": str, "phase": str, "created_at": str, "settings": str,
            "batch_count": int, "current_batch": int, "deadline": str, "start_at": str,
            "paused_from": str, "reason": str, "finished_at": str, "blue_green": str,
            "rollback_of": str, "source": str, "lock_version": int,
        },
        pk="id",
    )  # fmt: skip
    db.table("rollouts").create_index(["app", "phase"])
    db.table("targets").create(
        {
            "rollout_id": int, "namespace": str, "batch": int, "position": int, "status": str,
            "previous_image": str, "started_at": str, "finished_at": str, "attempts": int,
            "reason": str,
        },
        pk=("rollout_id", "namespace"),
    )  # fmt: skip
    db.table("approvals").create(
        {"rollout_id": int, "position": int, "user": str, "decision": str, "at": str, "gate": int},
        pk=("rollout_id", "position"),
    )
    db.table("audit").create(
        {
            "id": int, "at": str, "user": str, "action": str, "outcome": str, "rollout_id": int,
            "detail": str, "source": str, "extra": str,
        },
        pk="id",
    )  # fmt: skip
    db.table("audit").create_index(["rollout_id"])
    db.table("inbox").create(
        {
            "id": int, "rollout_id": int, "action": str, "user": str, "at": str, "tenants": str,
            "source": str, "taken_at": str,
        },
        pk="id",
    )  # fmt: skip
    db.table("inbox").create_index(["rollout_id", "taken_at"])


def _add_rollout_channel(db: Database) -> None:
    """v2: the Slack channel a rollout was asked for in; older rollouts have none."""
    db.table("rollouts").add_column("channel", str, not_null_default="")


def _add_target_baseline(db: Database) -> None:
    """v3: each target's latency before the change, so it survives a restart."""
    db.table("targets").add_column("baseline_latency_ms", float)


def _add_terminal_identity(db: Database) -> None:
    """v4: the OS account (`user@host`) a terminal request was typed at, beside the person
    it claims to be: the rollout's requester, each approval, inbox request and audit row.
    Rows written before have none, as Slack requests never do."""
    db.table("rollouts").add_column("requested_from", str)
    for table in ("approvals", "inbox", "audit"):
        db.table(table).add_column("os_account", str)


def _add_outcomes_and_retries(db: Database) -> None:
    """v5: how each target's last update settled, which a roll back does not undo, and
    the Kubernetes calls each rollout had to try again, by kind (JSON)."""
    db.table("targets").add_column("outcome", str)
    db.table("rollouts").add_column("retries", str, not_null_default="{}")


def _add_releases(db: Database) -> None:
    """v6: the release pipeline's journal: one row per release (`R7`), one per step with
    its state, timings, log file, verified digest and the rollout a deploy started."""
    db.table("releases").create(
        {
            "id": int, "version": str, "apps": str, "requested_by": str, "created_at": str,
            "ref": str, "revision": str, "build_only": int, "deploy_words": str, "phase": str,
            "reason": str, "stop_requested_by": str, "stopped_by": str, "finished_at": str,
            "source": str, "channel": str, "requested_from": str, "lock_version": int,
        },
        pk="id",
    )  # fmt: skip
    db.table("releases").create_index(["phase"])
    db.table("release_steps").create(
        {
            "release_id": int, "key": str, "position": int, "kind": str, "app": str,
            "state": str, "started_at": str, "finished_at": str, "detail": str,
            "log_path": str, "digest": str, "rollout_id": int, "attempts": int,
        },
        pk=("release_id", "key"),
    )  # fmt: skip


def _add_helm_revisions(db: Database) -> None:
    """v7: helm apps' release revision of each target, before the change and after it."""
    db.table("targets").add_column("previous_revision", int)
    db.table("targets").add_column("revision", int)


def _add_release_skip_checks(db: Database) -> None:
    """v8: whether a release was asked with skip-checks (its requester an approver of
    every app), for its summary after a restart as much as before."""
    db.table("releases").add_column("skip_checks", int, not_null_default=0)


# Migration N takes a journal from schema version N to N + 1.
MIGRATIONS: tuple[Callable[[Database], None], ...] = (
    _create_v1,
    _add_rollout_channel,
    _add_target_baseline,
    _add_terminal_identity,
    _add_outcomes_and_retries,
    _add_releases,
    _add_helm_revisions,
    _add_release_skip_checks,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def stored_version(db: Database) -> int:
    """The version a file was migrated to; 0 for a new, empty file."""
    if not db.table("meta").exists():
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(db: Database, *, path: str) -> int:
    """Bring the schema up to date in the caller's write transaction; returns the old version."""
    version = stored_version(db)
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{path} holds journal schema version {version}, but this rollbot only knows up "
            f"to version {SCHEMA_VERSION}; upgrade rollbot, or point ROLLBOT_DB at another file"
        )
    if version == 0:
        db.table("meta").create({"key": str, "value": str}, pk="key", if_not_exists=True)
    for migration in MIGRATIONS[version:]:
        migration(db)
    if version < SCHEMA_VERSION:
        db.table("meta").upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")
    return version
