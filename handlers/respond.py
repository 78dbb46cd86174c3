"""Getting an answer to the person who asked, and keeping track of who is still asking.

Slash commands and clicks end the same way (:func:`settle`): whatever happened becomes a
message for the person, never an exception; a refusal is also written to the audit log.
The answer goes privately through the request's `response_url` (retried on 429, 5xx and
dropped connections), else with chat.postEphemeral, or, for a click on the Home tab (no
channel, no response_url), as a DM from rollbot; a clicked message can be replaced in
place. Every running handler is recorded on the edge, so shutdown can let replies in
flight finish.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from handlers import render
from handlers.edge import Edge, Refused
from rollout.errors import EngineStopped

log = logging.getLogger(__name__)
T = TypeVar("T")
REPLY_TIMEOUT = 10  # seconds for one response_url post


@dataclass(frozen=True)
class Asked:
    """Who asked what, and where: the audit row of a refusal, and the log of a failure.
    `what` is as the audit log shows it (`/deploy isp v1.3.0`, `button approve 42:1`)."""

    user: str
    what: str
    channel: str


async def settle(
    edge: Edge, asked: Asked, work: Awaitable[T], *, failed: render.Message
) -> T | render.Message:
    """Await `work`, the handling of one command or click; never raises. A refusal
    becomes its reason, audited unless the engine did so; a shutdown says so; a bug is
    logged and answered with `failed`."""
    try:
        return await work
    except Refused as refusal:
        if not refusal.audited:
            await edge.audit(
                user=asked.user,
                action=asked.what,
                outcome="refused",
                detail=refusal.reason,
                rollout_id=refusal.rollout_id,
                channel=asked.channel,
            )
        return render.refusal(refusal.reason)
    except EngineStopped:
        return render.restarting()
    except Exception:
        log.exception("%s from %s failed", asked.what[:100], asked.user)
        return failed


def tracked(edge: Edge, handler: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Record the running handler in `edge.tasks`, so shutdown can let replies finish."""

    @functools.wraps(handler)  # Bolt passes arguments by the names in the signature
    async def run(**kwargs: Any) -> None:
        task = asyncio.current_task()
        if task is not None:
            edge.tasks.add(task)
        try:
            await handler(**kwargs)
        finally:
            if task is not None:
                edge.tasks.discard(task)

    return run


class Asker(Protocol):
    """A slash command or a click, as far as answering its person goes."""

    @property
    def response_url(self) -> str: ...

    @property
    def channel(self) -> str: ...

    @property
    def user(self) -> str: ...


async def send_reply(
    edge: Edge,
    *,
    client: AsyncWebClient,
    to: Asker,
    message: render.Message,
    replace: bool = False,
) -> bool:
    """Show `message` to the person who asked: through the response_url (retried on 429,
    5xx and dropped connections), else with chat.postEphemeral in their channel, or in
    their DM with rollbot when they asked from no channel (the Home tab). `replace` edits
    the message a clicked button sits in instead; that has no fallback. True when it was
    delivered."""
    response_url, channel, user = to.response_url, to.channel, to.user
    body: dict[str, Any] = {"text": message.text, "blocks": list(message.blocks)}
    body.update({"replace_original": True} if replace else {"response_type": "ephemeral"})
    if response_url:
        webhook = AsyncWebhookClient(
            response_url, timeout=REPLY_TIMEOUT, retry_handlers=list(edge.webhook_retries)
        )
        try:
            sent = await webhook.send_dict(body)
        except (aiohttp.ClientError, TimeoutError, OSError, SlackClientError) as exc:
            log.warning("response_url post failed: %s", exc)
        else:
            if sent.status_code == 200:
                return True
            log.warning("response_url answered %s: %s", sent.status_code, sent.body[:200])
    if replace or not user:
        return False
    try:
        if channel:
            await client.chat_postEphemeral(
                channel=channel, user=user, text=message.text, blocks=list(message.blocks)
            )
        else:
            # Asked from outside any channel (a button on the Home tab): no ephemeral can
            # be shown there, and a line on the tab would be gone at its next refresh, so
            # the answer goes to the person's own conversation with rollbot.
            await client.chat_postMessage(
                channel=user, text=message.text, blocks=list(message.blocks)
            )
    except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.warning("could not reply to %s in %s: %s", user, channel, exc)
        return False
    return True
