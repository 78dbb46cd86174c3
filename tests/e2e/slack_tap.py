"""A tap between the Slack stand-in and the bot: it forwards each request and keeps a copy
of its exact bytes and Slack headers, as anyone on the path could, so a test can send a
signed request again byte for byte (a replay) or send hand-made headers to the bot.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from sim.slack.payloads import slash_command_form

TIMESTAMP = "X-Slack-Request-Timestamp"
SIGNATURE = "X-Slack-Signature"
FORM = "application/x-www-form-urlencoded"
_KEPT = (TIMESTAMP, SIGNATURE, "X-Slack-Retry-Num", "Content-Type")


@dataclass(frozen=True)
class Seen:
    """One request as it crossed the tap."""

    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


@dataclass
class Tap:
    target: str  # the bot's /slack/events
    session: aiohttp.ClientSession
    url: str = ""
    seen: list[Seen] = field(default_factory=list)

    async def forward(self, request: web.Request) -> web.Response:
        kept = {name: request.headers[name] for name in _KEPT if name in request.headers}
        seen = Seen(await request.read(), kept)
        self.seen.append(seen)
        answer = await self.send(seen.body, seen.headers)
        return web.Response(status=answer.status, text=answer.body, content_type="application/json")

    async def send(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST `body` with exactly `headers` to the bot."""
        async with self.session.post(self.target, data=body, headers=dict(headers)) as resp:
            return Answer(resp.status, await resp.text())

    async def replay(self, seen: Seen) -> Answer:
        return await self.send(seen.body, seen.headers)


@contextlib.asynccontextmanager
async def tap(target: str) -> AsyncIterator[Tap]:
    """A tap on a free local port, forwarding to `target`; its address is `tap.url`."""
    async with aiohttp.ClientSession() as session:
        found = Tap(target, session)
        app = web.Application()
        app.router.add_post("/slack/events", found.forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        found.url = f"http://127.0.0.1:{port}/slack/events"
        try:
            yield found
        finally:
            await runner.cleanup()


def command_body(text: str, *, user: str, channel: str, response_url: str) -> bytes:
    """A `/deploy <text>` body exactly as Slack form-encodes it."""
    form = slash_command_form(
        command="/deploy",
        text=text,
        user_id=user,
        user_name=user.lower(),
        channel_id=channel,
        channel_name=channel.lower(),
        response_url=response_url,
    )
    return urlencode(form).encode()


async def post(url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
    """POST `body` with exactly `headers` (no signing of its own) to `url`."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=dict(headers)) as resp,
    ):
        return Answer(resp.status, await resp.text())
