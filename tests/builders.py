"""Rollouts and targets for tests, built in one place.

Most tests care about one or two fields of a rollout; `make_rollout` fills in the rest with
a plausible rolling deploy, so each test states only what matters to it, and a field that
`Rollout` grows is given a default here once instead of in every test module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from rollout.model import Rollout, Settings, Strategy, Target, TargetStatus

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_rollout(**fields: Any) -> Rollout:
    """Rollout #7: rolling isp v1.3.0 from `repo/isp`, asked for by U0ALICE at `T0` with
    default settings, in preflight and not yet planned; `fields` replace any of that."""
    base = Rollout(
        id=7,
        app="isp",
        strategy=Strategy.ROLLING,
        version="v1.3.0",
        image="repo/isp",
        requested_by="U0ALICE",
        created_at=T0,
        settings=Settings(),
    )
    return replace(base, **fields)


def planned_targets(
    plan: Mapping[str, int],
    *,
    statuses: Mapping[str, TargetStatus] | None = None,
    previous_image: str | None = None,
) -> tuple[Target, ...]:
    """A target per namespace of `plan` (namespace -> batch), in its order; each is pending
    unless `statuses` says otherwise."""
    found = statuses or {}
    return tuple(
        Target(ns, batch, status=found.get(ns, TargetStatus.PENDING), previous_image=previous_image)
        for ns, batch in plan.items()
    )
