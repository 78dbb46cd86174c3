"""Every Slack client rollbot makes, against the Slack stand-in: each reaches the Web API
that SLACK_API_URL names, with or without its trailing slash, and the counted ones count
each call once, failed or not, whether they block or not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError

from bot.metrics import Metrics
from bot.slack.web import api_base, bot_client, delivery_client, lookup_client
from sim.slack import FaultKind, SlackHandle, start_slack

CALLS = "rollbot_slack_calls_total"
ERRORS = "rollbot_slack_errors_total"


@pytest.fixture
def slack() -> Iterator[SlackHandle]:
    with start_slack(usergroups={"S0LEADS": ["U0BOB"]}) as handle:
        yield handle


def test_the_api_url_is_used_as_given_or_with_its_slash_added() -> None:
    assert api_base(None) == "https://slack.com/api/"
    assert api_base("") == "https://slack.com/api/"
    assert api_base("http://127.0.0.1:9/api") == "http://127.0.0.1:9/api/"
    assert api_base("http://127.0.0.1:9/api/") == "http://127.0.0.1:9/api/"


@pytest.mark.parametrize("slash", ["", "/"], ids=["without-slash", "with-slash"])
def test_every_client_reaches_the_api_url_it_is_given(slack: SlackHandle, slash: str) -> None:
    # Given SLACK_API_URL as an operator may write it
    url = slack.api_url.rstrip("/") + slash
    token = slack.bot_token

    # When each of rollbot's clients asks Slack something
    async def from_the_bot_and_a_terminal() -> tuple[object, object]:
        bot = bot_client(token=token, api_url=url, metrics=Metrics())
        terminal = lookup_client(token=token, api_url=url)
        return (
            (await bot.auth_test())["ok"],
            (await terminal.usergroups_users_list(usergroup="S0LEADS"))["users"],
        )

    delivered = delivery_client(token=token, api_url=url).auth_test()["ok"]
    bot_ok, members = asyncio.run(from_the_bot_and_a_terminal())

    # Then each got its answer from the stand-in
    assert (delivered, bot_ok, members) == (True, True, ["U0BOB"])


def test_counted_clients_count_each_call_once_and_failures_as_errors(slack: SlackHandle) -> None:
    # Given the bot's client and the delivery's, counting into one set of metrics
    metrics = Metrics()
    blocking = delivery_client(token=slack.bot_token, api_url=slack.api_url, metrics=metrics)
    bot = bot_client(token=slack.bot_token, api_url=slack.api_url, metrics=metrics)
    slack.add_fault("chat.postMessage", FaultKind.API_ERROR, error="channel_not_found", first=2)

    # When each makes a call that works and one that Slack refuses
    async def from_the_bot() -> None:
        await bot.auth_test()
        with pytest.raises(SlackApiError):
            await bot.chat_postMessage(channel="C0NONE", text="hi")

    blocking.auth_test()
    with pytest.raises(SlackApiError):
        blocking.chat_postMessage(channel="C0NONE", text="hi")
    asyncio.run(from_the_bot())

    # Then both are counted alike
    assert metrics.value(CALLS, {"operation": "auth.test"}) == 2
    assert metrics.value(CALLS, {"operation": "chat.postMessage"}) == 2
    assert metrics.value(ERRORS, {"operation": "auth.test"}) == 0
    assert metrics.value(ERRORS, {"operation": "chat.postMessage"}) == 2
