"""What `rollbot serve` answers on its port: `GET /healthz` (is the journal answering),
`GET /metrics` (Prometheus text, with the Slack outbox's backlog), and in HTTP mode
Slack's requests at `POST /slack/events` (:mod:`bot.slack.events`). Socket Mode takes
Slack's requests over its own connection instead (:mod:`bot.slack.socket_mode`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.app import RuntimeView
from bot.metrics import CONTENT_TYPE, Metrics
from bot.slack.events import events_handler
from bot.slack.verify import RequestVerifier

if TYPE_CHECKING:
    from bot.slack import SlackDelivery

EVENTS_PATH = "/slack/events"
HEALTH_TIMEOUT = 3.0  # seconds the journal or the outbox may take to answer a probe or scrape

Handler = Callable[[web.Request], Awaitable[web.Response]]


def web_app(
    app: AsyncApp,
    runtime: RuntimeView,
    metrics: Metrics,
    delivery: SlackDelivery | None,
    *,
    socket_mode: bool,
    signing_secret: str,
) -> web.Application:
    """The routes `rollbot serve` answers on its port; Slack's events only over HTTP."""
    routes = web.Application()
    routes.router.add_get("/healthz", _healthz(runtime, socket_mode=socket_mode))
    routes.router.add_get("/metrics", _metrics(metrics, delivery))
    if not socket_mode:
        verifier = RequestVerifier(signing_secret)
        routes.router.add_post(EVENTS_PATH, events_handler(app, metrics=metrics, verifier=verifier))
    return routes


def _healthz(runtime: RuntimeView, *, socket_mode: bool) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        mode = "socket" if socket_mode else "http"
        try:
            active = await asyncio.wait_for(
                asyncio.to_thread(runtime.store.count_active), HEALTH_TIMEOUT
            )
        except TimeoutError:
            problem = f"journal: no answer within {HEALTH_TIMEOUT:g}s"
            body = {"status": "unhealthy", "mode": mode, "problem": problem}
            return web.json_response(body, status=503)
        except Exception as exc:
            body = {"status": "unhealthy", "mode": mode, "problem": f"journal: {exc}"}
            return web.json_response(body, status=503)
        return web.json_response({"status": "ok", "mode": mode, "active_rollouts": active})

    return handle


def _metrics(metrics: Metrics, delivery: SlackDelivery | None) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        if delivery is not None:
            with contextlib.suppress(Exception):  # a busy journal must not fail the scrape
                counts = await asyncio.wait_for(
                    asyncio.to_thread(delivery.outbox_counts), HEALTH_TIMEOUT
                )
                for status, count in counts.items():
                    metrics.set("rollbot_slack_outbox", count, {"status": status})
        body = metrics.render().encode()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    return handle
