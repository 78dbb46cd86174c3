"""The one port of the Slack edge: everything the handlers reach outside Slack.

The handlers never see Kubernetes, SQLite or `bot`; the composition root hands them one
object of this shape. Every member blocks (the journal, the engine, the cluster), so the
edge calls them on its own threads (:meth:`handlers.edge.Edge.call`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from rollout.actions import Action
from rollout.model import InboxItem, Rollout
from rollout.options import RolloutOptions
from rollout.plan import Estimate, Plan
from rollout.ports import Clock, Cluster, Store
from rollout.release import Release, ReleasePlan, ReleaseRequest


class ReleasePort(Protocol):
    """The release pipeline (:class:`bot.release.Releases`): what `/release` asks of it."""

    def start(
        self, request: ReleaseRequest, *, user: str, groups: frozenset[str] = ...,
        source: str = ..., channel: str = ...,
    ) -> Release:
        """Journal the release and run it in the background; ReleaseConflict while
        another is active."""
        ...

    def plan(
        self, request: ReleaseRequest, *, user: str, groups: frozenset[str] = ...
    ) -> ReleasePlan:
        """The dry run, with every problem preflight finds now; changes nothing."""
        ...

    def status(self, release_id: int | None = None) -> Release: ...

    def list_releases(self, *, limit: int = ...) -> list[Release]: ...

    def cancel(self, release_id: int, *, user: str, source: str = ...) -> Release: ...


class EdgePort(Protocol):
    """The journal, the clock, the cluster (read for `/deploy health`), the engine, the
    release pipeline, and the Slack delivery's journal of the messages it posted."""

    @property
    def store(self) -> Store: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def cluster(self) -> Cluster: ...

    # --- the engine -------------------------------------------------------------------------

    def start(
        self,
        *,
        app: str,
        version: str,
        options: RolloutOptions,
        user: str,
        source: str = ...,
        channel: str = ...,
    ) -> Rollout: ...

    def submit(self, item: InboxItem) -> None: ...

    def rollback_app(
        self,
        *,
        app: str,
        to_version: str | None,
        tenants: Sequence[str] | None,
        user: str,
        channel: str = ...,
    ) -> Rollout: ...

    def plan(self, app: str, version: str, options: RolloutOptions) -> tuple[Plan, Estimate]:
        """The plan a dry run shows, read from the cluster; changes nothing."""
        ...

    def preview(self, app: str, version: str, options: RolloutOptions, plan: Plan) -> Rollout:
        """The rollout `plan` would become, unsaved, for showing a dry run."""
        ...

    def eta(self, rollout: Rollout) -> datetime | None:
        """When `rollout` should end, at the pace its app's past rollouts showed; reads
        the journal."""
        ...

    @property
    def releases(self) -> ReleasePort | None:
        """None where this rollbot runs no release pipeline."""
        ...

    # --- the Slack delivery ---------------------------------------------------------------

    def message_ref(self, rollout_id: int) -> tuple[str, str] | None:
        """Channel and ts of the rollout's parent message, once Slack has it."""
        ...

    def mark_decided(
        self, *, channel: str, ts: str, user: str, action: Action, at: datetime
    ) -> bool:
        """Have the delivery edit a clicked approval or choice message to say who did
        what; False when there is no delivery journal to do it through."""
        ...

    def home_opened(self, user: str, member_of: frozenset[str]) -> None:
        """`user` (in the user groups `member_of`) opened the App Home tab: queue their view
        and keep it current while rollouts change phase. Nothing when there is no delivery."""
        ...
