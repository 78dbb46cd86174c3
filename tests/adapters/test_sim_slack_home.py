"""The Slack stand-in's App Home, checked with Slack's own WebClient and a real Bolt app:
views.publish keeps each user's tab and refuses what Slack would, `app_home_opened` reaches
Bolt's event listener, and a click on the tab arrives as a view's block_actions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.app.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from sim.slack import SlackHandle, start_slack

BUTTON = {"type": "actions", "block_id": "home-7", "elements": [
    {"type": "button", "action_id": "pause", "value": "7",
     "text": {"type": "plain_text", "text": "Pause"}}]}  # fmt: skip


@pytest.fixture
def slack() -> Iterator[SlackHandle]:
    with start_slack() as handle:
        yield handle


def client(slack: SlackHandle) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_views_publish_keeps_each_users_tab_newest_last(slack: SlackHandle) -> None:
    web_client = client(slack)
    first = web_client.views_publish(user_id="U0ALICE", view={"type": "home",
                                                              "blocks": [section("one")]})
    again = web_client.views_publish(user_id="U0ALICE", view={"type": "home",
                                                              "blocks": [section("two")]})
    assert first["view"]["id"] == again["view"]["id"] and again["view"]["type"] == "home"
    home = slack.home("U0ALICE")
    assert home is not None and home.blocks == [section("two")]
    assert len(slack.homes("U0ALICE")) == 2 and slack.home("U0BOB") is None


@pytest.mark.parametrize(
    ("view", "error"),
    [
        ({"type": "modal", "blocks": [section("x")]}, "invalid_arguments"),
        ({"type": "home", "blocks": [section(str(i)) for i in range(101)]}, "invalid_arguments"),
        ({"type": "home", "blocks": [section("x" * 3001)]}, "invalid_arguments"),
    ],
)
def test_views_publish_refuses_what_slack_would(
    slack: SlackHandle, view: dict[str, Any], error: str
) -> None:
    with pytest.raises(SlackApiError) as refused:
        client(slack).views_publish(user_id="U0ALICE", view=view)
    assert refused.value.response["error"] == error
    assert slack.home("U0ALICE") is None


def test_a_hundred_blocks_are_a_home_view_slack_takes(slack: SlackHandle) -> None:
    blocks = [section(str(i)) for i in range(100)]
    client(slack).views_publish(user_id="U0ALICE", view={"type": "home", "blocks": blocks})
    home = slack.home("U0ALICE")
    assert home is not None and len(home.blocks) == 100


async def test_bolt_hears_home_opened_and_a_click_in_the_view(slack: SlackHandle) -> None:
    heard: list[dict[str, Any]] = []
    app = AsyncApp(
        signing_secret=slack.signing_secret,
        client=AsyncWebClient(token=slack.bot_token, base_url=slack.api_url),
    )

    @app.event("app_home_opened")
    async def opened(event: dict[str, Any]) -> None:
        heard.append(event)

    @app.action("pause")
    async def clicked(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        heard.append(body)

    runner = web.AppRunner(_bolt_web(app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    try:
        sent = await slack.send_app_home_opened_async(url, user_id="U0ALICE")
        assert sent.status == 200
        await slack.wait_for_async(lambda: len(heard) == 1, 5.0)
        assert heard[0]["tab"] == "home" and "view" not in heard[0]
        await slack.send_app_home_opened_async(url, user_id="U0ALICE")  # nothing published
        client(slack).views_publish(user_id="U0ALICE", view={"type": "home", "blocks": [BUTTON]})
        clicked_at = await slack.send_home_action_async(url, action_id="pause", user_id="U0ALICE")
        assert clicked_at.status == 200
        await slack.wait_for_async(lambda: len(heard) == 3, 5.0)
    finally:
        await runner.cleanup()
    body = heard[2]
    assert body["container"]["type"] == "view" and body["actions"][0]["value"] == "7"
    assert "channel" not in body and "message" not in body and "response_url" not in body
    assert body["view"]["blocks"] == [BUTTON]


def _bolt_web(app: AsyncApp) -> web.Application:
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    routes = web.Application()
    routes.router.add_post("/slack/events", handle)
    return routes
