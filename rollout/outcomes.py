"""What became of a set of tenants, counted once for every line that sums a rollout up.

A batch result, the failure choices, the parent message's counts, the final summary, the
notify line, the terminal's progress line and the metrics all read :func:`outcomes`, so
no two of them can disagree, and the counts of the summary are the batch results added
up. Counts follow each tenant's history, not only where it stands now: a tenant counts
as updated or failed by how its last update settled (``Target.outcome``), and as rolled
back on top of that when it was put back. So an automatic roll back after two failed
pilots reads "0 updated, 2 failed, 2 rolled back", never "0 failed".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rollout.health import lead_cause
from rollout.model import Target, TargetStatus

_SHOWN = 5  # failed tenants named in a one-line digest before "and N more"


@dataclass(frozen=True)
class Outcomes:
    """Counts over some targets (a batch, or a whole rollout); `failed` and
    `not_rolled_back` keep the targets themselves, for their names and reasons."""

    total: int
    updated: int  # its last update went through healthy (a later roll back aside)
    failed: tuple[Target, ...]  # its last update or health check failed
    skipped: int  # it failed and a person chose to leave it as it was
    rolled_back: int  # back on its previous image
    not_rolled_back: tuple[Target, ...]  # a roll back that did not go through
    updating: int  # an update under way
    rolling_back: int  # a roll back under way
    pending: int  # not started

    @property
    def left(self) -> int:
        """Still to be updated: not started, or under way."""
        return self.pending + self.updating

    @property
    def done(self) -> int:
        """Past their update, one way or another."""
        return self.total - self.left

    @property
    def all_healthy(self) -> bool:
        """Every one of them was updated and found healthy."""
        return self.total > 0 and self.updated == self.total

    def failed_names(self) -> tuple[str, ...]:
        return tuple(t.namespace for t in self.failed)


def outcomes(targets: Iterable[Target]) -> Outcomes:
    """Count `targets` by what became of them (see the module's docstring)."""
    listed = tuple(targets)

    def settled_as(status: TargetStatus) -> int:
        return sum(t.update_result is status for t in listed)

    def now(*statuses: TargetStatus) -> int:
        return sum(t.status in statuses for t in listed)

    return Outcomes(
        total=len(listed),
        updated=settled_as(TargetStatus.UPDATED),
        failed=tuple(t for t in listed if t.update_result is TargetStatus.FAILED),
        skipped=settled_as(TargetStatus.SKIPPED),
        rolled_back=now(TargetStatus.ROLLED_BACK),
        not_rolled_back=tuple(t for t in listed if t.status is TargetStatus.ROLLBACK_FAILED),
        updating=now(TargetStatus.UPDATING),
        rolling_back=now(TargetStatus.ROLLING_BACK),
        pending=now(TargetStatus.PENDING),
    )


def problems_of(targets: Iterable[Target]) -> tuple[str, ...]:
    """ "tenant: why" for each target, its status standing in for a missing reason."""
    return tuple(f"{t.namespace}: {t.reason or t.status.value}" for t in targets)


def causes_of(targets: Iterable[Target]) -> tuple[str, ...]:
    """ "tenant: root cause" for each target: the one-line view of `problems_of`, for the
    lines that name many tenants (a pause, a notify line); the thread's batch result keeps
    the rest of each reason."""
    return tuple(
        f"{t.namespace}: {lead_cause(t.reason)[0] if t.reason else t.status.value}"
        for t in targets
    )


def digest(problems: Sequence[str]) -> str:
    """A one-line digest of per-tenant problems, the full list going elsewhere."""
    shown = "; ".join(problems[:_SHOWN])
    more = len(problems) - _SHOWN
    return f"{shown}; and {more} more" if more > 0 else shown
