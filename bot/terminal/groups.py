"""Slack user groups for the terminal face, so `--as U0CAROL` counts as Slack would.

Permissions may name user groups (`S...`), and membership lives in Slack. A terminal verb
that checks policy asks Slack (`usergroups.users.list`, with `SLACK_BOT_TOKEN` and
`SLACK_API_URL`) only when a group could turn a refusal into a yes; a person listed by ID,
or refused for a reason no group can change, costs no call. Without a token, or when Slack
cannot say, the person is refused with that reason instead of a bare "not an approver".

Each verb is one short process, so there is no cache: at most one call per group named.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from rollout.policy import Decision

if TYPE_CHECKING:
    from slack_sdk import WebClient

Check = Callable[[frozenset[str]], Decision]

DEFAULT_API_URL = "https://slack.com/api/"
LOOKUP_TIMEOUT = 5  # seconds per HTTP call; the retries below bound the total


class LookupFailed(Exception):
    """Slack could not tell who is in a user group; `reason` is said to the person."""

    def __init__(self, group: str, reason: str) -> None:
        super().__init__(f"{group}: {reason}")
        self.group = group
        self.reason = reason


def authorize(
    check: Check, *, user: str, entries: Sequence[str], env: Mapping[str, str] | None = None
) -> Decision:
    """Run a policy `check`, resolving the groups among `entries` only when they matter.

    `entries` are the deployers/approvers the decision reads. A group matters when the
    person is refused on their own but would be let in as a member of every group named.
    """
    first = check(frozenset())
    wanted = group_ids(entries)
    if first.allowed or not wanted or not check(frozenset(wanted)).allowed:
        return first
    environ = os.environ if env is None else env
    token = environ.get("SLACK_BOT_TOKEN", "")
    if not token:
        return Decision.deny(
            f"{first.reason}; membership of {_listing(wanted)} could not be "
            "checked because SLACK_BOT_TOKEN is not set"
        )
    client = slack_client(token=token, api_url=environ.get("SLACK_API_URL") or DEFAULT_API_URL)
    member_of: set[str] = set()
    failures: list[LookupFailed] = []
    for group in wanted:
        try:
            if user in members(client, group):
                member_of.add(group)
        except LookupFailed as exc:
            failures.append(exc)
    decision = check(frozenset(member_of))
    if decision.allowed or not failures:
        return decision
    failed = failures[0]
    return Decision.deny(
        f"{first.reason}; rollbot could not check your membership of user group "
        f"{failed.group} ({failed.reason})"
    )


def group_ids(entries: Sequence[str]) -> list[str]:
    """User-group IDs (`S...`) among permission entries, each once, in order."""
    return list(dict.fromkeys(e for e in entries if e.startswith("S")))


def slack_client(*, token: str, api_url: str) -> WebClient:
    """A Web API client with a short timeout and a few retries for 429, 5xx and drops."""
    # Imported here: most terminal verbs never need Slack, and the SDK is slow to load.
    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )

    return WebClient(
        token=token,
        base_url=api_url if api_url.endswith("/") else api_url + "/",
        timeout=LOOKUP_TIMEOUT,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=1),
        ],
    )


def members(client: WebClient, group: str) -> frozenset[str]:
    """Who is in `group`, or LookupFailed saying why Slack could not tell."""
    from slack_sdk.errors import SlackApiError, SlackClientError

    try:
        response = client.usergroups_users_list(usergroup=group)
    except SlackApiError as exc:
        raise LookupFailed(group, f"Slack answered {_api_error(exc)}") from None
    except TimeoutError:
        raise LookupFailed(group, f"Slack did not answer within {LOOKUP_TIMEOUT}s") from None
    except (SlackClientError, OSError) as exc:
        # urllib wraps the socket's error; its own words ("Connection refused") read better.
        cause = getattr(exc, "reason", None) or exc
        raise LookupFailed(group, f"Slack could not be reached: {cause}") from None
    users = response.get("users") or []
    return frozenset(str(u) for u in users)


def _api_error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    if status is not None and status != 200:
        return f"HTTP {status}" + (f" ({error})" if error else "")
    return str(error) if error else "an error"


def _listing(groups: Sequence[str]) -> str:
    named = ", ".join(groups)
    return f"user group {named}" if len(groups) == 1 else f"user groups {named}"
