"""The authorization rule of the Slack edge: a policy check, with user groups resolved
only when they could change the answer.

The checks themselves are :mod:`rollout.policy`'s, pure; what this adds is asking Slack
who is in a group (through :class:`handlers.groups.GroupCache`) only when the person is
refused on their own and some group named could let them in, and refusing with the
reason when Slack cannot say.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from handlers.groups import GroupCache, GroupLookupFailed, group_ids
from rollout.policy import Decision

log = logging.getLogger(__name__)


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
