"""The authorization rule of the Slack edge: a policy check, with user groups resolved
only when they could change the answer.

The checks themselves are :mod:`rollout.policy`'s, pure; what this adds is asking Slack
who is in a group (through :class:`handlers.groups.GroupCache`) only when the person is
refused on their own and some group named could let them in, and refusing with the
reason when Slack cannot say. Slack's edge and the terminal both decide through it, so
a person hears the same refusal from either.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from handlers.groups import GroupCache, GroupLookupFailed
from rollout.policy import Check, Decision, groups_worth_asking

log = logging.getLogger(__name__)


async def authorize(
    check: Check,
    *,
    user: str,
    entries: Sequence[str],
    groups: GroupCache,
) -> Decision:
    """Run a policy check, asking Slack about user groups only when they could change the
    answer. When the groups Slack could answer for let the person in, they are in; when
    not, and some group could not be checked, the person is refused with both reasons:
    the rule's own, and why membership is unknown."""
    decision, _ = await authorize_in(check, user=user, entries=entries, groups=groups)
    return decision


async def authorize_in(
    check: Check,
    *,
    user: str,
    entries: Sequence[str],
    groups: GroupCache,
) -> tuple[Decision, frozenset[str]]:
    """:func:`authorize`, with the groups among `entries` the person was found in: what a
    later check of the same rule needs to reach the same answer (a release's preflight
    checks its requester again, off the event loop, with no Slack to ask)."""
    worth_asking = groups_worth_asking(check, entries)
    if not worth_asking:
        return check(frozenset()), frozenset()
    found = await groups.memberships(user, worth_asking)
    decision = check(found.member_of)
    if decision.allowed or found.failed is None:
        return decision, found.member_of
    log.warning("user-group lookup failed: %s", found.failed)
    return Decision.deny(unchecked(check(frozenset()).reason, found.failed)), found.member_of


def unchecked(reason: str, failure: GroupLookupFailed) -> str:
    """A refusal that a group might have lifted, had Slack said who is in it."""
    again = "" if failure.lasting else "; try again in a minute"
    return (
        f"{reason}; rollbot could not check your membership of user group {failure.group} "
        f"({failure.reason}){again}"
    )
