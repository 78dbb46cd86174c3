"""`POST /slack/events`: Slack's HTTP requests, checked, then handed to the Bolt app.

The check (`bot.slack.verify`) comes first and alone decides; Bolt's own is off. A
refusal is answered 401, counted by reason and logged by its reason only: the body holds
a response_url and the legacy verification token, and the headers a signature, none of
which belongs in a log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.metrics import Metrics
from bot.slack.verify import RequestVerifier

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.Response]]


def events_handler(app: AsyncApp, *, metrics: Metrics, verifier: RequestVerifier) -> Handler:
    """The aiohttp handler: verify, then dispatch to `app` and time its ack."""

    async def handle(request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = await request.read()
        refusal = verifier.check(body, request.headers)
        if refusal is not None:
            metrics.count_refusal(refusal.value)
            log.warning("refused a Slack request from %s: %s", request.remote, refusal.explanation)
            return web.json_response({"error": "invalid request"}, status=401)
        # Signed by Slack, so UTF-8; replacing is only so that no body can raise here.
        text = body.decode("utf-8", errors="replace")
        bolt_request = AsyncBoltRequest(
            body=text,
            query=request.query_string,
            headers=request.headers,  # type: ignore[arg-type]
        )
        bolt_response = await app.async_dispatch(bolt_request)
        metrics.observe_ack(time.perf_counter() - started, kind=_kind(text))
        return await to_aiohttp_response(bolt_response)

    return handle


def _kind(body: str) -> str:
    form = parse_qs(body[:4096])
    if "command" in form:
        return "command"
    if "payload" in form:
        return "action"
    return "other"
