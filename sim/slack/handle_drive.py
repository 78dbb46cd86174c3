"""The part of `SlackHandle` that acts like Slack towards the bot: commands, clicks, sockets.

Each action is written once, as a private method that builds the coroutine; `twins` makes
from it a blocking method for plain code (refused inside a running event loop, since the
bot may share that loop and could then never answer) and an `*_async` method for
coroutines. Both run the work on the stand-in's own loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from sim.slack import drive
from sim.slack.drive import HttpDelivery
from sim.slack.server import StandIn
from sim.slack.signing import SignatureMode
from sim.slack.socket_mode import SocketDelivery
from sim.slack.twins import SLACK, on_loop_async, on_loop_blocking, wait_async, wait_blocking


class DriveMixin:
    """Slash commands and button clicks over HTTP (signed) or Socket Mode, and socket control."""

    _standin: StandIn
    _loop: asyncio.AbstractEventLoop

    # ---- HTTP mode -----------------------------------------------------------------

    def _send_slash_command(
        self,
        bot_url: str,
        *,
        text: str,
        user_id: str,
        channel_id: str,
        command: str = "/deploy",
        signing_secret: str | None = None,
        signature: SignatureMode | str = SignatureMode.VALID,
        timeout: float = 10.0,
    ) -> Coroutine[Any, Any, HttpDelivery]:
        """POST a signed slash command to `bot_url` (e.g. `.../slack/events`); a non-empty
        answer body becomes an ephemeral reply, as in Slack."""
        return drive.send_slash_command(
            self._standin,
            bot_url,
            command=command,
            text=text,
            user_id=user_id,
            channel_id=channel_id,
            signing_secret=signing_secret,
            signature=SignatureMode(signature),
            timeout=timeout,
        )

    send_slash_command = on_loop_blocking(_send_slash_command)
    send_slash_command_async = on_loop_async(_send_slash_command)

    def _send_block_action(
        self,
        bot_url: str,
        *,
        action_id: str,
        user_id: str,
        message_ts: str,
        channel_id: str,
        value: str | None = None,
        signing_secret: str | None = None,
        signature: SignatureMode | str = SignatureMode.VALID,
        timeout: float = 10.0,
    ) -> Coroutine[Any, Any, HttpDelivery]:
        """POST a signed click on `action_id` in message `message_ts`; `value=None` sends the
        button's own value, read from the stored message."""
        return drive.send_block_action(
            self._standin,
            bot_url,
            action_id=action_id,
            value=value,
            user_id=user_id,
            message_ts=message_ts,
            channel_id=channel_id,
            signing_secret=signing_secret,
            signature=SignatureMode(signature),
            timeout=timeout,
        )

    send_block_action = on_loop_blocking(_send_block_action)
    send_block_action_async = on_loop_async(_send_block_action)

    # ---- Socket Mode ---------------------------------------------------------------

    def _send_slash_command_socket(
        self,
        *,
        text: str,
        user_id: str,
        channel_id: str,
        command: str = "/deploy",
        timeout: float = 5.0,
    ) -> Coroutine[Any, Any, SocketDelivery]:
        """Deliver a `slash_commands` envelope and wait until it is acked or `timeout`."""
        return drive.send_slash_command_socket(
            self._standin,
            command=command,
            text=text,
            user_id=user_id,
            channel_id=channel_id,
            timeout=timeout,
        )

    send_slash_command_socket = on_loop_blocking(_send_slash_command_socket)
    send_slash_command_socket_async = on_loop_async(_send_slash_command_socket)

    def _send_block_action_socket(
        self,
        *,
        action_id: str,
        user_id: str,
        message_ts: str,
        channel_id: str,
        value: str | None = None,
        timeout: float = 5.0,
    ) -> Coroutine[Any, Any, SocketDelivery]:
        """Deliver an `interactive` (block_actions) envelope and wait for the ack."""
        return drive.send_block_action_socket(
            self._standin,
            action_id=action_id,
            value=value,
            user_id=user_id,
            message_ts=message_ts,
            channel_id=channel_id,
            timeout=timeout,
        )

    send_block_action_socket = on_loop_blocking(_send_block_action_socket)
    send_block_action_socket_async = on_loop_async(_send_block_action_socket)

    def request_reconnect(self) -> bool:
        """Send Slack's `disconnect` (`refresh_requested`) to the newest Socket Mode client.

        Returns at once (it does not wait for the bot), so it is safe inside a loop too."""
        coro = self._standin.sockets.request_reconnect()
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(SLACK)

    def drop_connection(self, *, clean: bool = False) -> bool:
        """Cut the newest Socket Mode connection: no close frame unless `clean`."""
        coro = self._standin.sockets.drop_connection(clean=clean)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(SLACK)

    def socket_deliveries(self) -> list[SocketDelivery]:
        return list(self._standin.sockets.deliveries)

    @property
    def socket_connections_opened(self) -> int:
        return self._standin.sockets.connections_opened

    @property
    def live_socket_connections(self) -> int:
        return self._standin.sockets.live_connections

    def _socket_ready(self, opened: int) -> bool:
        sockets = self._standin.sockets
        return sockets.connections_opened >= opened and sockets.live_connections > 0

    def _wait_socket_connected(self, opened: int = 1, timeout: float = 5.0) -> None:
        """Until `opened` connections have been made in total and one is live."""
        self._standin.workspace.wait_for(lambda: self._socket_ready(opened), timeout)

    wait_socket_connected = wait_blocking(_wait_socket_connected)
    wait_socket_connected_async = wait_async(_wait_socket_connected)
