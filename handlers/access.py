"""Who is asking, what they may do, and what the Slack edge may reach to do it.

Permissions name Slack users (`U...`) and user groups (`S...`). Group membership lives in
Slack, so deciding needs a `usergroups.users.list` call; answers are cached for a while so
a burst of clicks costs one call per group, and concurrent lookups of one group share a
single request. When Slack cannot say who is in a group, the person is refused with that
reason rather than let in or crashed on.

`Edge` is everything the handlers touch: the configured apps and channels, the journal and
the engine, through ports only (the handlers never see Kubernetes, SQLite or `bot`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, Protocol, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from handlers import render
from handlers.render import Message
from rollout import errors
from rollout.actions import Action
from rollout.model import AppSpec, AuditEntry, HealthSpec, InboxItem, Rollout
from rollout.options import RolloutOptions
from rollout.policy import Decision
from rollout.ports import Clock, Cluster, Store

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

GroupFetcher = Callable[[str], Awaitable[Sequence[str]]]
DEFAULT_GROUP_TTL = 300.0
DEFAULT_LOOKUP_TIMEOUT = 5.0
REPLY_TIMEOUT = 10  # seconds for one response_url post


class GroupLookupFailed(Exception):
    """Slack could not tell who is in a user group."""

    def __init__(self, group: str, reason: str) -> None:
        super().__init__(f"{group}: {reason}")
        self.group = group
        self.reason = reason


@dataclass
class _Entry:
    members: frozenset[str]
    fetched_at: float


class GroupCache:
    """Members of user groups, fetched on demand and kept for `ttl` seconds.

    Failures are never cached: the next question asks Slack again."""

    def __init__(
        self,
        fetch: GroupFetcher,
        *,
        ttl: float = DEFAULT_GROUP_TTL,
        timeout: float = DEFAULT_LOOKUP_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._timeout = timeout
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Future[frozenset[str]]] = {}
        self.lookups = 0  # calls made to Slack, for tests and metrics

    async def members(self, group: str) -> frozenset[str]:
        entry = self._entries.get(group)
        if entry is not None and self._clock() - entry.fetched_at < self._ttl:
            return entry.members
        pending = self._inflight.get(group)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(group))
            self._inflight[group] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(group, None))
        # shield: one caller giving up must not cancel the lookup the others wait on.
        return await asyncio.shield(pending)

    async def _lookup(self, group: str) -> frozenset[str]:
        self.lookups += 1
        try:
            users = await asyncio.wait_for(self._fetch(group), self._timeout)
        except TimeoutError:
            reason = f"Slack did not answer within {self._timeout:g}s"
            raise GroupLookupFailed(group, reason) from None
        except SlackApiError as exc:
            raise GroupLookupFailed(group, f"Slack answered {_api_error(exc)}") from None
        except (SlackClientError, aiohttp.ClientError, OSError) as exc:
            raise GroupLookupFailed(group, f"Slack could not be reached ({exc})") from None
        members = frozenset(users)
        self._entries[group] = _Entry(members, self._clock())
        return members

    async def groups_of(self, user: str, entries: Sequence[str]) -> frozenset[str]:
        """The user groups among `entries` that `user` belongs to."""
        groups = group_ids(entries)
        found = await asyncio.gather(*(self.members(g) for g in groups), return_exceptions=True)
        failures = [f for f in found if isinstance(f, BaseException)]
        for failure in failures:
            if not isinstance(failure, GroupLookupFailed):
                raise failure
        if failures:
            raise failures[0]
        return frozenset(
            g
            for g, members in zip(groups, found, strict=True)
            if isinstance(members, frozenset) and user in members
        )

    def forget(self, group: str | None = None) -> None:
        if group is None:
            self._entries.clear()
        else:
            self._entries.pop(group, None)


def _api_error(exc: SlackApiError) -> str:
    with contextlib.suppress(Exception):
        return str(exc.response["error"])
    return "an error"


def group_ids(entries: Sequence[str]) -> list[str]:
    """User-group IDs (`S...`) among permission entries, each once."""
    return list(dict.fromkeys(e for e in entries if e.startswith("S")))


def slack_group_fetcher(client: AsyncWebClient) -> GroupFetcher:
    """usergroups.users.list through the bot's Web API client (its retry handlers apply)."""

    async def fetch(group: str) -> Sequence[str]:
        response = await client.usergroups_users_list(usergroup=group)
        users = response.get("users") or []
        return [str(u) for u in users]

    return fetch


async def authorize(
    check: Callable[[frozenset[str]], Decision],
    *,
    user: str,
    entries: Sequence[str],
    groups: GroupCache,
) -> Decision:
    """Run a policy check, resolving user groups only when they could change the answer.

    When a lookup fails, the check is run as if the person were in every group: if even
    that refuses, the refusal has nothing to do with groups and its own reason is kept;
    otherwise the person is refused because membership could not be checked."""
    first = check(frozenset())
    wanted = group_ids(entries)
    if first.allowed or not wanted:
        return first
    try:
        member_of = await groups.groups_of(user, wanted)
    except GroupLookupFailed as exc:
        if not check(frozenset(wanted)).allowed:
            return first
        log.warning("user-group lookup failed: %s", exc)
        return Decision.deny(
            f"rollbot could not check your membership of user group {exc.group} "
            f"({exc.reason}); try again in a minute"
        )
    return check(member_of)


# --- the seam between the Slack edge and the rest of rollbot ------------------------------


class EnginePort(Protocol):
    """What the handlers ask of the engine. Every method blocks: call via a thread."""

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


@dataclass
class Edge:
    """What the Slack handlers may reach. Blocking members are called via threads.

    Built by the composition root, so the handlers stay free of cluster and storage
    code: `dry_run` renders the plan of a would-be rollout (it reads the cluster);
    `cluster` is read for `/deploy health`, judged as `health` says; `parent_message`
    finds a rollout's
    parent message (channel, ts) and `mark_decided` edits a clicked approval or choice
    message to say who did what, both through the Slack delivery's journal."""

    apps: Mapping[str, AppSpec]
    release_channels: tuple[str, ...]
    store: Store
    engine: EnginePort
    clock: Clock
    groups: GroupCache
    cluster: Cluster
    health: HealthSpec
    client: AsyncWebClient | None = None
    dry_run: Callable[[str, str, RolloutOptions], Message] | None = None
    parent_message: Callable[[int], tuple[str, str] | None] | None = None
    mark_decided: Callable[..., None] | None = None  # (channel=, ts=, user=, verb=, at=)
    webhook_retries: Sequence[AsyncRetryHandler] = ()
    executor: Executor | None = None  # for blocking calls; None: asyncio's default
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock.now()

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
            await self.call(self.store.record_audit, entry)
        except Exception:
            log.exception("could not write an audit entry for %s %s", user, action)


# --- shared by the slash commands and the buttons -----------------------------------------


def tracked(edge: Edge, handler: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Record the running handler in `edge.tasks`, so shutdown can let replies finish."""

    @functools.wraps(handler)  # Bolt passes arguments by the names in the signature
    async def run(**kwargs: Any) -> None:
        task = asyncio.current_task()
        if task is not None:
            edge.tasks.add(task)
        try:
            await handler(**kwargs)
        finally:
            if task is not None:
                edge.tasks.discard(task)

    return run


async def send_reply(
    edge: Edge,
    *,
    client: AsyncWebClient,
    response_url: str,
    channel: str,
    user: str,
    message: render.Message,
    replace: bool = False,
) -> bool:
    """Show `message` to one person: through the response_url (retried on 429, 5xx and
    dropped connections), else with chat.postEphemeral. `replace` edits the message a
    clicked button sits in instead; that has no fallback. True when it was delivered."""
    body: dict[str, Any] = {"text": message.text, "blocks": list(message.blocks)}
    body.update({"replace_original": True} if replace else {"response_type": "ephemeral"})
    if response_url:
        webhook = AsyncWebhookClient(
            response_url, timeout=REPLY_TIMEOUT, retry_handlers=list(edge.webhook_retries)
        )
        try:
            sent = await webhook.send_dict(body)
        except (aiohttp.ClientError, TimeoutError, OSError, SlackClientError) as exc:
            log.warning("response_url post failed: %s", exc)
        else:
            if sent.status_code == 200:
                return True
            log.warning("response_url answered %s: %s", sent.status_code, sent.body[:200])
    if replace or not channel or not user:
        return False
    try:
        await client.chat_postEphemeral(
            channel=channel, user=user, text=message.text, blocks=list(message.blocks)
        )
    except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.warning("could not reply to %s in %s: %s", user, channel, exc)
        return False
    return True


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
    rollout = await edge.call(edge.store.get, rollout_id)
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
) -> None:
    decision = await authorize(check, user=user, entries=entries, groups=edge.groups)
    if not decision.allowed:
        raise Refused(sentence(decision.reason), rollout_id=rollout_id)


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
        await edge.call(edge.engine.submit, item)
    except errors.PermissionDenied as denied:
        raise Refused(sentence(denied.reason), rollout_id=rollout.id, audited=True) from None
    except errors.RollbotError as exc:
        # The engine wrote every request it refused to the audit log itself.
        raise Refused(sentence(str(exc)), rollout_id=rollout.id, audited=True) from None
