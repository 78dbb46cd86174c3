"""Driving the bot the way Slack does: slash commands, button clicks and Home tab events,
over HTTP or sockets.

HTTP mode posts signed requests to the bot's `/slack/events` (an event as JSON, the rest
form-encoded); Socket Mode wraps the same payloads in envelopes. Either way the stand-in
mints the `response_url` (a Home tab's click has none, as in Slack), and for a slash
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

from sim.slack.payloads import (
    app_home_opened_event,
    block_actions_payload,
    slash_command_form,
    view_actions_payload,
)
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


@dataclass(frozen=True)
class _Request:
    """One thing Slack sends the bot, ready for either transport."""

    envelope_type: str  # what Socket Mode calls it
    payload: JsonDict  # the Socket Mode envelope's payload
    form: dict[str, str]  # the same, as the HTTP form body
    response_url: str
    reply_to: tuple[str, str] | None = None  # (channel, user) when Slack shows the ack body
    as_json: bool = False  # the Events API posts its payload as JSON, not as a form


def _command_request(
    standin: StandIn, *, command: str, text: str, user_id: str, channel_id: str
) -> _Request:
    user_name, channel_name = _names(standin, user_id=user_id, channel_id=channel_id)
    form = slash_command_form(
        command=command,
        text=text,
        user_id=user_id,
        user_name=user_name,
        channel_id=channel_id,
        channel_name=channel_name,
        response_url=standin.responses.mint(channel=channel_id, user=user_id),
    )
    return _Request("slash_commands", dict(form), form, form["response_url"], (channel_id, user_id))


def _action_request(
    standin: StandIn,
    *,
    action_id: str,
    value: str | None,
    user_id: str,
    message_ts: str,
    channel_id: str,
) -> _Request:
    user_name, channel_name = _names(standin, user_id=user_id, channel_id=channel_id)
    message = standin.workspace.message(channel_id, message_ts)
    url = standin.responses.mint(
        channel=channel_id,
        user=user_id,
        message_ts=message_ts,
        thread_ts=message.thread_ts if message else None,
    )
    payload = block_actions_payload(
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
    return _Request("interactive", payload, {"payload": json.dumps(payload)}, url)


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


def _show_ack(standin: StandIn, request: _Request, reply: Any) -> None:
    if request.reply_to is not None:
        channel, user = request.reply_to
        apply_command_reply(standin, channel=channel, user=user, reply=reply)


async def _over_http(
    standin: StandIn,
    bot_url: str,
    request: _Request,
    *,
    secret: str | None,
    signature: SignatureMode | str,
    timeout: float,  # noqa: ASYNC109 - the client's own deadline, reported back
) -> HttpDelivery:
    if request.as_json:
        body, content_type = json.dumps(request.payload).encode(), "application/json"
    else:
        body, content_type = urlencode(request.form).encode(), "application/x-www-form-urlencoded"
    headers = {
        "Content-Type": content_type,
        "User-Agent": USER_AGENT,
        **signed_headers(
            body, secret=secret or standin.signing_secret, mode=SignatureMode(signature)
        ),
    }
    started = time.monotonic()
    async with standin.session().post(
        bot_url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as resp:
        text = await resp.text()
        elapsed = time.monotonic() - started
    if resp.status == 200:
        _show_ack(standin, request, _ack_body(text))
    return HttpDelivery(resp.status, text, elapsed, request.response_url)


async def _over_socket(
    standin: StandIn,
    request: _Request,
    *,
    timeout: float,  # noqa: ASYNC109 - the ack deadline is part of the result
) -> SocketDelivery:
    delivery = await standin.sockets.deliver(
        request.envelope_type,
        request.payload,
        timeout=timeout,
        response_url=request.response_url,
    )
    if delivery.acked:
        _show_ack(standin, request, delivery.ack_payload)
    return delivery


async def send_slash_command(
    standin: StandIn,
    bot_url: str,
    *,
    command: str = "/deploy",
    text: str,
    user_id: str,
    channel_id: str,
    signing_secret: str | None = None,
    signature: SignatureMode | str = SignatureMode.VALID,
    timeout: float = 10.0,  # noqa: ASYNC109 - the client's own deadline
) -> HttpDelivery:
    """POST a signed slash command to `bot_url` (e.g. `.../slack/events`); a non-empty
    answer body becomes an ephemeral reply, as in Slack."""
    request = _command_request(
        standin, command=command, text=text, user_id=user_id, channel_id=channel_id
    )
    return await _over_http(
        standin, bot_url, request, secret=signing_secret, signature=signature, timeout=timeout
    )


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
    signature: SignatureMode | str = SignatureMode.VALID,
    timeout: float = 10.0,  # noqa: ASYNC109 - the client's own deadline
) -> HttpDelivery:
    """POST a signed click on `action_id` in message `message_ts`; `value=None` sends the
    button's own value, read from the stored message."""
    request = _action_request(
        standin,
        action_id=action_id,
        value=value,
        user_id=user_id,
        message_ts=message_ts,
        channel_id=channel_id,
    )
    return await _over_http(
        standin, bot_url, request, secret=signing_secret, signature=signature, timeout=timeout
    )


async def send_slash_command_socket(
    standin: StandIn,
    *,
    command: str = "/deploy",
    text: str,
    user_id: str,
    channel_id: str,
    timeout: float = 5.0,  # noqa: ASYNC109 - the ack deadline is part of the result
) -> SocketDelivery:
    """Deliver a `slash_commands` envelope and wait until it is acked or `timeout`."""
    request = _command_request(
        standin, command=command, text=text, user_id=user_id, channel_id=channel_id
    )
    return await _over_socket(standin, request, timeout=timeout)


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
    """Deliver an `interactive` (block_actions) envelope and wait for the ack."""
    request = _action_request(
        standin,
        action_id=action_id,
        value=value,
        user_id=user_id,
        message_ts=message_ts,
        channel_id=channel_id,
    )
    return await _over_socket(standin, request, timeout=timeout)


# --- the Home tab ---------------------------------------------------------------------------


def _home_opened_request(standin: StandIn, *, user_id: str) -> _Request:
    shown = standin.views.home(user_id)
    payload = app_home_opened_event(user_id=user_id, view=shown.to_api() if shown else None)
    return _Request("events_api", payload, {}, "", as_json=True)


def _home_action_request(
    standin: StandIn, *, action_id: str, value: str | None, user_id: str
) -> _Request:
    shown = standin.views.home(user_id)
    if shown is None:
        raise LookupError(f"{user_id} has no Home view to click in")
    user_name = standin.workspace.user_name(user_id) or user_id.lower()
    payload = view_actions_payload(
        action_id=action_id, value=value, user_id=user_id, user_name=user_name,
        view=shown.to_api(),
    )  # fmt: skip
    return _Request("interactive", payload, {"payload": json.dumps(payload)}, "")


async def send_app_home_opened(
    standin: StandIn,
    bot_url: str,
    *,
    user_id: str,
    signature: SignatureMode | str = SignatureMode.VALID,
    timeout: float = 10.0,  # noqa: ASYNC109 - the client's own deadline
) -> HttpDelivery:
    """POST a signed `app_home_opened` event: `user_id` opened the app's Home tab."""
    request = _home_opened_request(standin, user_id=user_id)
    return await _over_http(
        standin, bot_url, request, secret=None, signature=signature, timeout=timeout
    )


async def send_home_action(
    standin: StandIn,
    bot_url: str,
    *,
    action_id: str,
    user_id: str,
    value: str | None = None,
    signature: SignatureMode | str = SignatureMode.VALID,
    timeout: float = 10.0,  # noqa: ASYNC109 - the client's own deadline
) -> HttpDelivery:
    """POST a signed click on `action_id` in the Home view `user_id` sees now; `value=None`
    sends the button's own value. LookupError when nothing was published for them."""
    request = _home_action_request(standin, action_id=action_id, value=value, user_id=user_id)
    return await _over_http(
        standin, bot_url, request, secret=None, signature=signature, timeout=timeout
    )


async def send_app_home_opened_socket(
    standin: StandIn,
    *,
    user_id: str,
    timeout: float = 5.0,  # noqa: ASYNC109 - the ack deadline is part of the result
) -> SocketDelivery:
    """Deliver an `events_api` envelope for `app_home_opened` and wait for the ack."""
    return await _over_socket(standin, _home_opened_request(standin, user_id=user_id),
                              timeout=timeout)


async def send_home_action_socket(
    standin: StandIn,
    *,
    action_id: str,
    user_id: str,
    value: str | None = None,
    timeout: float = 5.0,  # noqa: ASYNC109 - the ack deadline is part of the result
) -> SocketDelivery:
    """Deliver an `interactive` envelope for a click in the user's Home view."""
    request = _home_action_request(standin, action_id=action_id, value=value, user_id=user_id)
    return await _over_socket(standin, request, timeout=timeout)
