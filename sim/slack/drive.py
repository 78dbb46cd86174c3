"""Driving the bot the way Slack does: slash commands and button clicks, over HTTP or sockets.

HTTP mode posts signed requests to the bot's `/slack/events`; Socket Mode wraps the same
payloads in envelopes. Either way the stand-in mints the `response_url`, and for a slash
command it treats a non-empty ack body as Slack does: an ephemeral reply to the user (or a
channel message for `response_type: in_channel`). These coroutines run on the stand-in's
loop; `harness` offers them to tests as thread-safe sync and async methods.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from sim.slack.payloads import block_actions_payload, slash_command_form
from sim.slack.records import JsonDict
from sim.slack.server import StandIn
from sim.slack.signing import SignatureMode, signed_headers
from sim.slack.socket_mode import SocketDelivery

USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
ACK_DEADLINE = 3.0  # Slack shows the user an error when the bot answers later than this


@dataclass(frozen=True)
class HttpDelivery:
    """The bot's answer to one signed request."""

    status: int
    body: str
    elapsed: float
    response_url: str

    @property
    def within_deadline(self) -> bool:
        return self.elapsed < ACK_DEADLINE

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def _names(standin: StandIn, *, user_id: str, channel_id: str) -> tuple[str, str]:
    chan = standin.workspace.channel(channel_id)
    user_name = standin.workspace.user_name(user_id) or user_id.lower()
    return user_name, chan.name if chan else channel_id


def _command_form(
    standin: StandIn, *, command: str, text: str, user_id: str, channel_id: str
) -> dict[str, str]:
    user_name, channel_name = _names(standin, user_id=user_id, channel_id=channel_id)
    return slash_command_form(
        command=command,
        text=text,
        user_id=user_id,
        user_name=user_name,
        channel_id=channel_id,
        channel_name=channel_name,
        response_url=standin.responses.mint(channel=channel_id, user=user_id),
    )


def _action_payload(
    standin: StandIn,
    *,
    action_id: str,
    value: str | None,
    user_id: str,
    message_ts: str,
    channel_id: str,
) -> JsonDict:
    user_name, channel_name = _names(standin, user_id=user_id, channel_id=channel_id)
    message = standin.workspace.message(channel_id, message_ts)
    url = standin.responses.mint(
        channel=channel_id,
        user=user_id,
        message_ts=message_ts,
        thread_ts=message.thread_ts if message else None,
    )
    return block_actions_payload(
        action_id=action_id,
        value=value,
        user_id=user_id,
        user_name=user_name,
        channel_id=channel_id,
        channel_name=channel_name,
        message=message.to_api() if message else None,
        message_ts=message_ts,
        response_url=url,
    )


def apply_command_reply(standin: StandIn, *, channel: str, user: str, reply: Any) -> None:
    """What Slack shows for a slash command's ack body: nothing, an ephemeral, or a post."""
    if isinstance(reply, str):
        if reply.strip():
            standin.workspace.post_ephemeral(channel, user=user, text=reply, source="ack")
        return
    if not isinstance(reply, dict) or not (reply.get("text") or reply.get("blocks")):
        return
    text, blocks = str(reply.get("text") or ""), list(reply.get("blocks") or [])
    if reply.get("response_type") == "in_channel":
        standin.workspace.post_message(channel, text=text, blocks=blocks)
    else:
        standin.workspace.post_ephemeral(channel, user=user, text=text, blocks=blocks, source="ack")


def _ack_body(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


async def _post(
    standin: StandIn,
    bot_url: str,
    body: bytes,
    *,
    secret: str | None,
    signature: SignatureMode,
    timeout: float,  # noqa: ASYNC109 - the client's own deadline, reported back
) -> tuple[int, str, float]:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": USER_AGENT,
        **signed_headers(body, secret=secret or standin.signing_secret, mode=signature),
    }
    started = time.monotonic()
    async with standin.session().post(
        bot_url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as resp:
        text = await resp.text()
        return resp.status, text, time.monotonic() - started


async def send_slash_command(
    standin: StandIn,
    bot_url: str,
    *,
    command: str = "/deploy",
    text: str,
    user_id: str,
    channel_id: str,
    signing_secret: str | None = None,
    signature: SignatureMode = SignatureMode.VALID,
    timeout: float = 10.0,  # noqa: ASYNC109 - the client's own deadline
) -> HttpDelivery:
    form = _command_form(
        standin, command=command, text=text, user_id=user_id, channel_id=channel_id
    )
    status, body, elapsed = await _post(
        standin,
        bot_url,
        urlencode(form).encode(),
        secret=signing_secret,
        signature=signature,
        timeout=timeout,
    )
    if status == 200:
        apply_command_reply(standin, channel=channel_id, user=user_id, reply=_ack_body(body))
    return HttpDelivery(status, body, elapsed, form["response_url"])


async def send_block_action(
    standin: StandIn,
    bot_url: str,
    *,
    action_id: str,
    value: str | None = None,
    user_id: str,
    message_ts: str,
    channel_id: str,
    signing_secret: str | None = None,
    signature: SignatureMode = SignatureMode.VALID,
    timeout: float = 10.0,  # noqa: ASYNC109 - the client's own deadline
) -> HttpDelivery:
    payload = _action_payload(
        standin,
        action_id=action_id,
        value=value,
        user_id=user_id,
        message_ts=message_ts,
        channel_id=channel_id,
    )
    status, body, elapsed = await _post(
        standin,
        bot_url,
        urlencode({"payload": json.dumps(payload)}).encode(),
        secret=signing_secret,
        signature=signature,
        timeout=timeout,
    )
    return HttpDelivery(status, body, elapsed, str(payload["response_url"]))


async def send_slash_command_socket(
    standin: StandIn,
    *,
    command: str = "/deploy",
    text: str,
    user_id: str,
    channel_id: str,
    timeout: float = 5.0,  # noqa: ASYNC109 - the ack deadline is part of the result
) -> SocketDelivery:
    form = _command_form(
        standin, command=command, text=text, user_id=user_id, channel_id=channel_id
    )
    delivery = await standin.sockets.deliver(
        "slash_commands", dict(form), timeout=timeout, response_url=form["response_url"]
    )
    if delivery.acked:
        apply_command_reply(standin, channel=channel_id, user=user_id, reply=delivery.ack_payload)
    return delivery


async def send_block_action_socket(
    standin: StandIn,
    *,
    action_id: str,
    value: str | None = None,
    user_id: str,
    message_ts: str,
    channel_id: str,
    timeout: float = 5.0,  # noqa: ASYNC109 - the ack deadline is part of the result
) -> SocketDelivery:
    payload = _action_payload(
        standin,
        action_id=action_id,
        value=value,
        user_id=user_id,
        message_ts=message_ts,
        channel_id=channel_id,
    )
    return await standin.sockets.deliver(
        "interactive", payload, timeout=timeout, response_url=str(payload["response_url"])
    )
