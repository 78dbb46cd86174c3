"""What the Slack handlers may reach, and the steps slash commands and buttons share.

:class:`Edge` holds the configuration the handlers read (apps, release channels, health
settings), the one port to the rest of rollbot (:class:`handlers.ports.EdgePort`), the
user-group cache and the Slack client. Blocking work goes through :meth:`Edge.call`, on
threads of the edge's own. The shared steps (load a rollout, find its app, require a
policy, hand a request to the engine) turn every refusal into :class:`Refused`, which
the handlers answer privately and write to the audit log.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from handlers.authorize import authorize_in
from handlers.groups import GroupCache
from handlers.ports import EdgePort
from rollout import errors
from rollout.actions import Action
from rollout.model import AppSpec, AuditEntry, HealthSpec, InboxItem, Rollout
from rollout.policy import Decision, channel_allowed

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Edge:
    """What the Slack handlers may reach; built by the composition root."""

    apps: Mapping[str, AppSpec]
    release_channels: tuple[str, ...]
    health: HealthSpec  # how `/deploy health` judges what it reads
    port: EdgePort
    groups: GroupCache
    client: AsyncWebClient
    webhook_retries: Sequence[AsyncRetryHandler] = ()
    executor: Executor | None = None  # for blocking calls; None: asyncio's default
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.port.clock.now()

    async def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call (journal, engine, cluster) off the event loop. The edge has
        threads of its own, so a burst of commands does not queue behind other work."""
        if self.executor is None:
            return await asyncio.to_thread(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    def lock(self, rollout_id: int) -> asyncio.Lock:
        """Serialises the checks and requests of one rollout's clicks. One small lock per
        rollout ever clicked, kept for the life of the process."""
        return self._locks.setdefault(rollout_id, asyncio.Lock())

    async def audit(
        self,
        *,
        user: str,
        action: str,
        outcome: str,
        detail: str = "",
        rollout_id: int | None = None,
        channel: str = "",
    ) -> None:
        """Write one audit entry on a worker thread; a journal failure is logged, not
        raised, so the person still hears why they were refused."""
        entry = AuditEntry(
            at=self.now(),
            user=user,
            action=action,
            outcome=outcome,
            rollout_id=rollout_id,
            detail=detail[:1000],
            source="slack",
            extra={"channel": channel} if channel else {},
        )
        try:
            await self.call(self.port.store.record_audit, entry)
        except Exception:
            log.exception("could not write an audit entry for %s %s", user, action)


# --- shared by the slash commands and the buttons -----------------------------------------


class Refused(Exception):
    """A command turned down; `reason` is shown to the person. It is written to the audit
    log unless `audited` says the engine has done so already."""

    def __init__(
        self, reason: str, *, rollout_id: int | None = None, audited: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rollout_id = rollout_id
        self.audited = audited


async def load_rollout(edge: Edge, rollout_id: int) -> Rollout:
    rollout = await edge.call(edge.port.store.get, rollout_id)
    if rollout is None:
        raise Refused(f"There is no rollout #{rollout_id}.", rollout_id=rollout_id)
    return rollout


def app_spec(edge: Edge, name: str) -> AppSpec:
    spec = edge.apps.get(name)
    if spec is None:
        raise Refused(f"{name} is no longer in rollbot's configuration.")
    return spec


async def require(
    edge: Edge,
    check: Callable[[frozenset[str]], Decision],
    *,
    user: str,
    entries: tuple[str, ...],
    rollout_id: int | None = None,
) -> frozenset[str]:
    """Refuse unless `check` lets `user` in; returns the user groups they were found in."""
    decision, member_of = await authorize_in(
        check, user=user, entries=entries, groups=edge.groups
    )
    if not decision.allowed:
        raise Refused(sentence(decision.reason), rollout_id=rollout_id)
    return member_of


def check_channel(edge: Edge, channel: str) -> None:
    """Commands that change something are taken only in the release channels."""
    decision = channel_allowed(edge.release_channels, channel)
    if not decision.allowed:
        raise Refused(sentence(decision.reason))


def sentence(reason: str) -> str:
    text = reason[:1].upper() + reason[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


async def submit(
    edge: Edge,
    *,
    rollout: Rollout,
    action: Action,
    user: str,
    tenants: tuple[str, ...] | None = None,
) -> None:
    """Hand a person's request to the engine; its refusals become `Refused`."""
    item = InboxItem(
        rollout_id=rollout.id,
        action=action,
        user=user,
        at=edge.now(),
        tenants=tenants,
        source="slack",
    )
    try:
        await edge.call(edge.port.submit, item)
    except errors.PermissionDenied as denied:
        raise Refused(sentence(denied.reason), rollout_id=rollout.id, audited=True) from None
    except errors.RollbotError as exc:
        # The engine wrote every request it refused to the audit log itself.
        raise Refused(sentence(str(exc)), rollout_id=rollout.id, audited=True) from None
