"""Rows <-> :mod:`rollout.model` values: the one place that knows how the journal spells things.

Both stores call :func:`check_rollout`, so the in-memory store refuses exactly what the
SQLite store could not hold faithfully (naive datetimes, a tenant listed twice) and the
contract tests can hold them to the same behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any

from rollout.actions import Action
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

TARGET_COLUMNS = (
    "namespace", "batch", "position", "status", "previous_image", "started_at", "finished_at",
    "attempts", "reason", "baseline_latency_ms", "outcome", "previous_revision", "revision",
)  # fmt: skip
APPROVAL_COLUMNS = ("user", "decision", "at", "gate", "os_account")


def dump_account(account: OsAccount | None) -> str | None:
    """`ops@build-7`, the way people read it; parsed back by :meth:`OsAccount.parse`."""
    return None if account is None else str(account)


def dump_time(value: datetime | None) -> str | None:
    """Aware datetime -> ISO-8601 in UTC; naive ones are refused, they are always a bug."""
    if value is None:
        return None
    if value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} cannot go in the journal")
    return value.astimezone(UTC).isoformat()


def load_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def _must_time(text: str) -> datetime:
    value = load_time(text)
    assert value is not None
    return value


def check_rollout(rollout: Rollout) -> None:
    """Refuse what a journal cannot hold faithfully, before anything is written."""
    names = [t.namespace for t in rollout.targets]
    if len(set(names)) != len(names):
        raise ValueError(f"rollout #{rollout.id} lists a tenant twice")
    for when in (rollout.created_at, rollout.deadline, rollout.start_at, rollout.finished_at):
        dump_time(when)
    for target in rollout.targets:
        dump_time(target.started_at)
        dump_time(target.finished_at)
    for approval in rollout.approvals:
        dump_time(approval.at)


def _known(cls: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    # A newer rollbot of the same schema may have written more keys: drop what we do not know.
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def rollout_row(rollout: Rollout) -> dict[str, Any]:
    """The `rollouts` row; targets and approvals live in their own tables."""
    return {
        "id": rollout.id,
        "app": rollout.app,
        "strategy": rollout.strategy.value,
        "version": rollout.version,
        "image": rollout.image,
        "requested_by": rollout.requested_by,
        "phase": rollout.phase.value,
        "created_at": dump_time(rollout.created_at),
        "settings": json.dumps(asdict(rollout.settings)),
        "batch_count": rollout.batch_count,
        "current_batch": rollout.current_batch,
        "deadline": dump_time(rollout.deadline),
        "start_at": dump_time(rollout.start_at),
        "paused_from": rollout.paused_from.value if rollout.paused_from else None,
        "reason": rollout.reason,
        "finished_at": dump_time(rollout.finished_at),
        "blue_green": json.dumps(asdict(rollout.blue_green)) if rollout.blue_green else None,
        "rollback_of": None if rollout.rollback_of is None else json.dumps(rollout.rollback_of),
        "source": rollout.source,
        "lock_version": rollout.lock_version,
        "channel": rollout.channel,
        "requested_from": dump_account(rollout.requested_from),
        "retries": json.dumps(dict(rollout.retries.by_kind)),
    }


def target_values(position: int, target: Target) -> tuple[Any, ...]:
    """One `targets` row in TARGET_COLUMNS order, comparable with what SQLite returns."""
    return (
        target.namespace, target.batch, position, target.status.value, target.previous_image,
        dump_time(target.started_at), dump_time(target.finished_at), target.attempts,
        target.reason, target.baseline_latency_ms,
        target.outcome.value if target.outcome else None, target.previous_revision,
        target.revision,
    )  # fmt: skip


def target_from(values: Sequence[Any]) -> Target:
    (ns, batch, _, status, previous, started, finished, attempts, reason, baseline, outcome,
     previous_revision, revision) = values  # fmt: skip
    return Target(
        namespace=ns, batch=batch, status=TargetStatus(status), previous_image=previous,
        started_at=load_time(started), finished_at=load_time(finished), attempts=attempts,
        reason=reason, baseline_latency_ms=baseline,
        # None in journals from before it was kept: a settled status still says it all.
        outcome=TargetStatus(outcome) if outcome else None,
        previous_revision=previous_revision, revision=revision,
    )  # fmt: skip


def approval_values(approval: Approval) -> tuple[Any, ...]:
    """One `approvals` row in APPROVAL_COLUMNS order."""
    return (
        approval.user, str(approval.decision), dump_time(approval.at), approval.gate,
        dump_account(approval.os_account),
    )  # fmt: skip


def approval_from(values: Sequence[Any]) -> Approval:
    user, decision, at, gate, account = values
    return Approval(
        user=user, decision=Action(decision), at=_must_time(at), gate=gate,
        os_account=OsAccount.parse(account),
    )  # fmt: skip


def _settings_from(text: str) -> Settings:
    data = _known(Settings, json.loads(text))
    for key in ("pilot_tenants", "bump_changed"):  # JSON lists back to tuples
        if key in data:
            data[key] = tuple(data[key])
    return Settings(**data)


def _blue_green_from(text: str) -> BlueGreen:
    fields = json.loads(text)
    # Journals written before `old_gone` existed only set `old_removed` once the delete
    # had been answered (or crashed); take those removals as done, not to be sent again.
    fields.setdefault("old_gone", bool(fields.get("old_removed")))
    return BlueGreen(**_known(BlueGreen, fields))


def rollout_from(
    row: dict[str, Any], targets: Sequence[Target], approvals: Sequence[Approval]
) -> Rollout:
    blue_green = row["blue_green"]
    rollback_of = row["rollback_of"]
    return Rollout(
        id=row["id"],
        app=row["app"],
        strategy=Strategy(row["strategy"]),
        version=row["version"],
        image=row["image"],
        requested_by=row["requested_by"],
        created_at=_must_time(row["created_at"]),
        settings=_settings_from(row["settings"]),
        phase=Phase(row["phase"]),
        targets=tuple(targets),
        batch_count=row["batch_count"],
        current_batch=row["current_batch"],
        deadline=load_time(row["deadline"]),
        start_at=load_time(row["start_at"]),
        paused_from=Phase(row["paused_from"]) if row["paused_from"] else None,
        approvals=tuple(approvals),
        reason=row["reason"],
        finished_at=load_time(row["finished_at"]),
        blue_green=_blue_green_from(blue_green) if blue_green else None,
        rollback_of=None if rollback_of is None else tuple(json.loads(rollback_of)),
        source=row["source"],
        lock_version=row["lock_version"],
        channel=row.get("channel") or "",
        requested_from=OsAccount.parse(row.get("requested_from")),
        retries=Retries.of(json.loads(row.get("retries") or "{}")),
    )


def audit_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": dump_time(entry.at), "user": entry.user, "action": entry.action,
        "outcome": entry.outcome, "rollout_id": entry.rollout_id, "detail": entry.detail,
        "source": entry.source, "extra": json.dumps(dict(entry.extra)),
        "os_account": dump_account(entry.os_account),
    }  # fmt: skip


def audit_from(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        at=_must_time(row["at"]), user=row["user"], action=row["action"],
        outcome=row["outcome"], rollout_id=row["rollout_id"], detail=row["detail"],
        source=row["source"], extra=dict(json.loads(row["extra"])),
        os_account=OsAccount.parse(row.get("os_account")),
    )  # fmt: skip


def inbox_row(item: InboxItem) -> dict[str, Any]:
    return {
        "rollout_id": item.rollout_id, "action": str(item.action), "user": item.user,
        "at": dump_time(item.at),
        "tenants": None if item.tenants is None else json.dumps(list(item.tenants)),
        "source": item.source, "taken_at": None,
        "os_account": dump_account(item.os_account),
    }  # fmt: skip


def _action(name: str) -> Action | str:
    """The request a row names; one this rollbot does not know stays its name, so the
    engine refuses it (and says so) rather than the journal failing to read."""
    try:
        return Action(name)
    except ValueError:
        return name


def inbox_from(row: dict[str, Any]) -> InboxItem:
    tenants = row["tenants"]
    return InboxItem(
        rollout_id=row["rollout_id"], action=_action(row["action"]), user=row["user"],
        at=_must_time(row["at"]), tenants=None if tenants is None else tuple(json.loads(tenants)),
        source=row["source"], id=row["id"], os_account=OsAccount.parse(row.get("os_account")),
    )  # fmt: skip
