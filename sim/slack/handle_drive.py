"""The part of `SlackHandle` that acts like Slack towards the bot: commands, clicks, sockets.

Each action exists twice: a blocking method for plain code (refused inside a running event
loop, since the bot may share that loop and could then never answer) and an `*_async`
method for coroutines. Both run the work on the stand-in's own loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from sim.slack import drive
from sim.slack.drive import HttpDelivery
from sim.slack.server import StandIn
from sim.slack.signing import SignatureMode
from sim.slack.socket_mode import SocketDelivery

T = TypeVar("T")
_SLACK = 5.0  # extra seconds a blocking call waits beyond the action's own timeout


def refuse_inside_loop(name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"{name}() blocks; from a coroutine use {name}_async()")


class DriveMixin:
    """Slash commands and button clicks over HTTP (signed) or Socket Mode, and socket control."""

    _standin: StandIn
    _loop: asyncio.AbstractEventLoop

    def _submit(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def _block(self, name: str, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        try:
            refuse_inside_loop(name)
        except RuntimeError:
            coro.close()
            raise
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout + _SLACK)

    # ---- HTTP mode -----------------------------------------------------------------

    def _slash(
        self,
        bot_url: str,
        *,
        text: str,
        user_id: str,
        channel_id: str,
        command: str,
        signing_secret: str | None,
        signature: SignatureMode | str,
        timeout: float,
    ) -> Coroutine[Any, Any, HttpDelivery]:
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

    def send_slash_command(
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
    ) -> HttpDelivery:
        """POST a signed slash command to `bot_url` (e.g. `.../slack/events`); a non-empty
        answer body becomes an ephemeral reply, as in Slack."""
        coro = self._slash(
            bot_url,
            text=text,
            user_id=user_id,
            channel_id=channel_id,
            command=command,
            signing_secret=signing_secret,
            signature=signature,
            timeout=timeout,
        )
        return self._block("send_slash_command", coro, timeout)

    async def send_slash_command_async(
        self,
        bot_url: str,
        *,
        text: str,
        user_id: str,
        channel_id: str,
        command: str = "/deploy",
        signing_secret: str | None = None,
        signature: SignatureMode | str = SignatureMode.VALID,
        timeout: float = 10.0,  # noqa: ASYNC109 - the HTTP client's deadline
    ) -> HttpDelivery:
        coro = self._slash(
            bot_url,
            text=text,
            user_id=user_id,
            channel_id=channel_id,
            command=command,
            signing_secret=signing_secret,
            signature=signature,
            timeout=timeout,
        )
        return await self._submit(coro)

    def _click(
        self,
        bot_url: str,
        *,
        action_id: str,
        user_id: str,
        message_ts: str,
        channel_id: str,
        value: str | None,
        signing_secret: str | None,
        signature: SignatureMode | str,
        timeout: float,
    ) -> Coroutine[Any, Any, HttpDelivery]:
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

    def send_block_action(
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
    ) -> HttpDelivery:
        """POST a signed click on `action_id` in message `message_ts`; `value=None` sends the
        button's own value, read from the stored message."""
        coro = self._click(
            bot_url,
            action_id=action_id,
            user_id=user_id,
            message_ts=message_ts,
            channel_id=channel_id,
            value=value,
            signing_secret=signing_secret,
            signature=signature,
            timeout=timeout,
        )
        return self._block("send_block_action", coro, timeout)

    async def send_block_action_async(
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
        timeout: float = 10.0,  # noqa: ASYNC109 - the HTTP client's deadline
    ) -> HttpDelivery:
        coro = self._click(
            bot_url,
            action_id=action_id,
            user_id=user_id,
            message_ts=message_ts,
            channel_id=channel_id,
            value=value,
            signing_secret=signing_secret,
            signature=signature,
            timeout=timeout,
        )
        return await self._submit(coro)

    # ---- Socket Mode ---------------------------------------------------------------

    def send_slash_command_socket(
        self,
        *,
        text: str,
        user_id: str,
        channel_id: str,
        command: str = "/deploy",
        timeout: float = 5.0,
    ) -> SocketDelivery:
        """Deliver a `slash_commands` envelope and wait until it is acked or `timeout`."""
        coro = drive.send_slash_command_socket(
            self._standin,
            command=command,
            text=text,
            user_id=user_id,
            channel_id=channel_id,
            timeout=timeout,
        )
        return self._block("send_slash_command_socket", coro, timeout)

    async def send_slash_command_socket_async(
        self,
        *,
        text: str,
        user_id: str,
        channel_id: str,
        command: str = "/deploy",
        timeout: float = 5.0,  # noqa: ASYNC109 - the ack deadline is part of the result
    ) -> SocketDelivery:
        coro = drive.send_slash_command_socket(
            self._standin,
            command=command,
            text=text,
            user_id=user_id,
            channel_id=channel_id,
            timeout=timeout,
        )
        return await self._submit(coro)

    def send_block_action_socket(
        self,
        *,
        action_id: str,
        user_id: str,
        message_ts: str,
        channel_id: str,
        value: str | None = None,
        timeout: float = 5.0,
    ) -> SocketDelivery:
        """Deliver an `interactive` (block_actions) envelope and wait for the ack."""
        coro = drive.send_block_action_socket(
            self._standin,
            action_id=action_id,
            value=value,
            user_id=user_id,
            message_ts=message_ts,
            channel_id=channel_id,
            timeout=timeout,
        )
        return self._block("send_block_action_socket", coro, timeout)

    async def send_block_action_socket_async(
        self,
        *,
        action_id: str,
        user_id: str,
        message_ts: str,
        channel_id: str,
        value: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - the ack deadline is part of the result
    ) -> SocketDelivery:
        coro = drive.send_block_action_socket(
            self._standin,
            action_id=action_id,
            value=value,
            user_id=user_id,
            message_ts=message_ts,
            channel_id=channel_id,
            timeout=timeout,
        )
        return await self._submit(coro)

    def request_reconnect(self) -> bool:
        """Send Slack's `disconnect` (`refresh_requested`) to the newest Socket Mode client.

        Returns at once (it does not wait for the bot), so it is safe inside a loop too."""
        coro = self._standin.sockets.request_reconnect()
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_SLACK)

    def drop_connection(self, *, clean: bool = False) -> bool:
        """Cut the newest Socket Mode connection: no close frame unless `clean`."""
        coro = self._standin.sockets.drop_connection(clean=clean)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_SLACK)

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

    def wait_socket_connected(self, opened: int = 1, timeout: float = 5.0) -> None:
        """Until `opened` connections have been made in total and one is live."""
        refuse_inside_loop("wait_socket_connected")
        self._standin.workspace.wait_for(lambda: self._socket_ready(opened), timeout)

    async def wait_socket_connected_async(
        self,
        opened: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - mirrors the blocking form; the wait is bounded
    ) -> None:
        wait = self._standin.workspace.wait_for
        await asyncio.to_thread(wait, lambda: self._socket_ready(opened), timeout)
