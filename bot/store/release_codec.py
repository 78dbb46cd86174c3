"""Rows <-> :mod:`rollout.release` values: how the journal spells a release and its steps.

Both journals (the SQLite file and the in-memory one) pass releases through here, so the
in-memory one gives back exactly what the file would.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.store.codec import dump_account, dump_time, load_time
from rollout.model import OsAccount
from rollout.release import Release, ReleasePhase, Step, StepKind, StepState

STEP_COLUMNS = (
    "key", "position", "kind", "app", "state", "started_at", "finished_at", "detail",
    "log_path", "digest", "rollout_id", "attempts",
)  # fmt: skip


def check_release(release: Release) -> None:
    """Refuse what the journal could not hold faithfully, before anything is written."""
    keys = [s.key for s in release.steps]
    if len(set(keys)) != len(keys):
        raise ValueError(f"release {release.label} lists a step twice")
    for when in (release.created_at, release.finished_at):
        dump_time(when)
    for step in release.steps:
        dump_time(step.started_at)
        dump_time(step.finished_at)


def release_row(release: Release) -> dict[str, Any]:
    return {
        "id": release.id, "version": release.version, "apps": json.dumps(release.apps),
        "requested_by": release.requested_by, "created_at": dump_time(release.created_at),
        "ref": release.ref, "revision": release.revision, "build_only": int(release.build_only),
        "skip_checks": int(release.skip_checks),
        "deploy_words": json.dumps(release.deploy_words), "phase": str(release.phase),
        "reason": release.reason, "stop_requested_by": release.stop_requested_by,
        "stopped_by": release.stopped_by, "finished_at": dump_time(release.finished_at),
        "source": release.source, "channel": release.channel,
        "requested_from": dump_account(release.requested_from),
        "lock_version": release.lock_version,
    }  # fmt: skip


def step_values(position: int, step: Step) -> tuple[Any, ...]:
    return (
        step.key, position, str(step.kind), step.app, str(step.state),
        dump_time(step.started_at), dump_time(step.finished_at), step.detail, step.log_path,
        step.digest, step.rollout_id, step.attempts,
    )  # fmt: skip


def step_from(values: Sequence[Any]) -> Step:
    row = dict(zip(STEP_COLUMNS, values, strict=True))
    return Step(
        kind=StepKind(row["kind"]), app=row["app"] or "", state=StepState(row["state"]),
        started_at=load_time(row["started_at"]), finished_at=load_time(row["finished_at"]),
        detail=row["detail"] or "", log_path=row["log_path"] or "", digest=row["digest"] or "",
        rollout_id=row["rollout_id"], attempts=row["attempts"] or 0,
    )  # fmt: skip


def release_from(row: dict[str, Any], steps: Sequence[Step]) -> Release:
    created = load_time(row["created_at"])
    assert created is not None
    return Release(
        id=row["id"], version=row["version"], apps=tuple(json.loads(row["apps"])),
        requested_by=row["requested_by"], created_at=created, steps=tuple(steps),
        ref=row["ref"] or "", revision=row["revision"] or "", build_only=bool(row["build_only"]),
        skip_checks=bool(row["skip_checks"]),
        deploy_words=tuple(json.loads(row["deploy_words"])), phase=ReleasePhase(row["phase"]),
        reason=row["reason"] or "", stop_requested_by=row["stop_requested_by"] or "",
        stopped_by=row["stopped_by"] or "", finished_at=load_time(row["finished_at"]),
        source=row["source"] or "cli", channel=row["channel"] or "",
        requested_from=OsAccount.parse(row["requested_from"]),
        lock_version=row["lock_version"],
    )  # fmt: skip


def normalized(release: Release) -> Release:
    """The release as the journal file would read it back."""
    steps = [step_from(step_values(i, s)) for i, s in enumerate(release.steps)]
    return release_from(release_row(release), steps)
