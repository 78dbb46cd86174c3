"""Slack's requests over Socket Mode, each timed from arrival to its ack for /metrics.

The other way in, over HTTP, is :mod:`bot.slack.events`.
"""

from __future__ import annotations

import time

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.metrics import AckTimer, Metrics

SOCKET_PING_SECONDS = 3.0


class TimedSocketModeHandler(AsyncSocketModeHandler):
    """Socket Mode, timing each envelope from arrival to its ack for /metrics."""

    def __init__(self, app: AsyncApp, app_token: str, *, metrics: Metrics) -> None:
        # The client notices a connection that died without a close frame only when its
        # next ping is due, so pings are frequent enough to be back within seconds.
        super().__init__(app, app_token, ping_interval=SOCKET_PING_SECONDS)
        self.metrics = metrics

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        started = time.time()
        timer = AckTimer(self.metrics, "command" if req.type == "slash_commands" else "action")
        response = await run_async_bolt_app(self.app, req)
        await send_async_response(client, req, response, started)
        timer.done()
