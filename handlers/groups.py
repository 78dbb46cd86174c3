"""Who is in a Slack user group, asked of Slack and remembered for a while.

Permissions name Slack users (`U...`) and user groups (`S...`). Group membership lives in
Slack, so deciding needs a `usergroups.users.list` call; answers are cached for a while so
a burst of clicks costs one call per group, and concurrent lookups of one group share a
single request. When Slack cannot say who is in a group, the lookup fails with the
reason, for the authorization rule (:mod:`handlers.authorize`) to tell the person. The
terminal asks through the same cache, once per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

GroupFetcher = Callable[[str], Awaitable[Sequence[str]]]
DEFAULT_GROUP_TTL = 300.0
DEFAULT_LOOKUP_TIMEOUT = 5.0


class GroupLookupFailed(Exception):
    """Slack could not tell who is in a user group: `reason` says why, for the person.
    `lasting`: asking again soon will not help (no token, a scope the app lacks)."""

    def __init__(self, group: str, reason: str, *, lasting: bool = False) -> None:
        super().__init__(f"{group}: {reason}")
        self.group = group
        self.reason = reason
        self.lasting = lasting


@dataclass(frozen=True)
class Memberships:
    """The groups asked about that the person is in, and the first one Slack could not
    answer for (None when it answered for all)."""

    member_of: frozenset[str]
    failed: GroupLookupFailed | None = None


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
            raise _refused(group, exc) from None
        except (SlackClientError, aiohttp.ClientError, OSError) as exc:
            # The connection's own words ("Connection refused") read better than a wrapper's.
            cause = getattr(exc, "reason", None) or exc
            raise GroupLookupFailed(group, f"Slack could not be reached: {cause}") from None
        members = frozenset(users)
        self._entries[group] = _Entry(members, self._clock())
        return members

    async def memberships(self, user: str, groups: Sequence[str]) -> Memberships:
        """Which of `groups` `user` is in, all asked at once."""
        found = await asyncio.gather(*(self.members(g) for g in groups), return_exceptions=True)
        failures = [f for f in found if isinstance(f, BaseException)]
        for failure in failures:
            if not isinstance(failure, GroupLookupFailed):
                raise failure
        member_of = frozenset(
            g
            for g, members in zip(groups, found, strict=True)
            if isinstance(members, frozenset) and user in members
        )
        first = failures[0] if failures else None
        return Memberships(member_of, first if isinstance(first, GroupLookupFailed) else None)

    def forget(self, group: str | None = None) -> None:
        if group is None:
            self._entries.clear()
        else:
            self._entries.pop(group, None)


def _refused(group: str, exc: SlackApiError) -> GroupLookupFailed:
    """What Slack answered instead of the members: `HTTP 503`, `missing_scope`."""
    status = getattr(exc.response, "status_code", 200)
    error = ""
    with contextlib.suppress(Exception):
        error = str(exc.response["error"] or "")
    if status != 200:
        said = f"HTTP {status}" + (f" ({error})" if error else "")
    else:
        said = error or "an error"
    lasting = status < 500 and status != 429
    return GroupLookupFailed(group, f"Slack answered {said}", lasting=lasting)


def slack_group_fetcher(client: AsyncWebClient) -> GroupFetcher:
    """usergroups.users.list through the bot's Web API client (its retry handlers apply)."""

    async def fetch(group: str) -> Sequence[str]:
        response = await client.usergroups_users_list(usergroup=group)
        users = response.get("users") or []
        return [str(u) for u in users]

    return fetch
