"""Slack user groups for the terminal face, so `--as U0CAROL` counts as Slack would.

Permissions may name user groups (`S...`), and membership lives in Slack. A terminal verb
decides through the Slack edge's own rule (:func:`handlers.authorize.authorize`), asking
Slack (`usergroups.users.list`, with `SLACK_BOT_TOKEN` and `SLACK_API_URL`) only when a
group could turn a refusal into a yes; a person listed by ID, or refused for a reason no
group can change, costs no call and loads no Slack client. Without a token, or when
Slack cannot say, the person is refused with that reason, in the same words Slack uses.

Each verb is one short process: one lookup per group named, nothing kept.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rollout.policy import Check, Decision, groups_worth_asking

if TYPE_CHECKING:
    from handlers.groups import GroupFetcher

NO_TOKEN = "SLACK_BOT_TOKEN is not set"


def authorize(
    check: Check, *, user: str, entries: Sequence[str], env: Mapping[str, str] | None = None
) -> Decision:
    """Run a policy `check` on `user`, resolving the groups among `entries` (the
    deployers or approvers it reads) only when they matter."""
    return authorize_in(check, user=user, entries=entries, env=env)[0]


def authorize_in(
    check: Check, *, user: str, entries: Sequence[str], env: Mapping[str, str] | None = None
) -> tuple[Decision, frozenset[str]]:
    """:func:`authorize`, with the groups the person was found in (for a release's
    preflight, which checks them again)."""
    if not groups_worth_asking(check, entries):
        return check(frozenset()), frozenset()
    # Imported here: most verbs never ask Slack, and its client is slow to load.
    from handlers.authorize import authorize_in as decide
    from handlers.groups import GroupCache

    groups = GroupCache(_fetcher(os.environ if env is None else env))
    return asyncio.run(decide(check, user=user, entries=entries, groups=groups))


def _fetcher(env: Mapping[str, str]) -> GroupFetcher:
    from handlers.groups import GroupLookupFailed, slack_group_fetcher

    token = env.get("SLACK_BOT_TOKEN", "")
    if token:
        from bot.slack.web import lookup_client

        return slack_group_fetcher(lookup_client(token=token, api_url=env.get("SLACK_API_URL")))

    async def tokenless(group: str) -> Sequence[str]:
        raise GroupLookupFailed(group, NO_TOKEN, lasting=True)

    return tokenless
