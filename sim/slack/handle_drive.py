"""The part of `SlackHandle` that acts like Slack towards the bot: commands, clicks, sockets.

Each action is written once, as a coroutine in `drive`; `twins` makes from it a blocking
method for plain code (refused inside a running event loop, since the bot may share that
loop and could then never answer) and an `*_async` method for coroutines. Both run the
work on the stand-in's own loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from sim.slack import drive
from sim.slack.server import StandIn
from sim.slack.socket_mode import SocketDelivery
from sim.slack.twins import SLACK, on_loop_async, on_loop_blocking, wait_async, wait_blocking

P = ParamSpec("P")
T = TypeVar("T")


def _on_standin(
    action: Callable[Concatenate[StandIn, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[DriveMixin, P], Coroutine[Any, Any, T]]:
    # wraps() keeps the action's signature visible, so the blocking twin finds `timeout`
    @functools.wraps(action)
    def method(self: DriveMixin, /, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, T]:
        return action(self._standin, *args, **kwargs)

    return method


class DriveMixin:
    """Slash commands, button clicks and Home tab events over HTTP (signed) or Socket Mode,
    and socket control."""

    _standin: StandIn
    _loop: asyncio.AbstractEventLoop

    # The actions are `drive`'s, with this handle's stand-in as their first argument.

    send_slash_command = on_loop_blocking(_on_standin(drive.send_slash_command))
    send_slash_command_async = on_loop_async(_on_standin(drive.send_slash_command))
    send_block_action = on_loop_blocking(_on_standin(drive.send_block_action))
    send_block_action_async = on_loop_async(_on_standin(drive.send_block_action))

    send_slash_command_socket = on_loop_blocking(_on_standin(drive.send_slash_command_socket))
    send_slash_command_socket_async = on_loop_async(_on_standin(drive.send_slash_command_socket))
    send_block_action_socket = on_loop_blocking(_on_standin(drive.send_block_action_socket))
    send_block_action_socket_async = on_loop_async(_on_standin(drive.send_block_action_socket))

    send_app_home_opened = on_loop_blocking(_on_standin(drive.send_app_home_opened))
    send_app_home_opened_async = on_loop_async(_on_standin(drive.send_app_home_opened))
    send_home_action = on_loop_blocking(_on_standin(drive.send_home_action))
    send_home_action_async = on_loop_async(_on_standin(drive.send_home_action))
    send_app_home_opened_socket = on_loop_blocking(_on_standin(drive.send_app_home_opened_socket))
    send_app_home_opened_socket_async = on_loop_async(
        _on_standin(drive.send_app_home_opened_socket)
    )
    send_home_action_socket = on_loop_blocking(_on_standin(drive.send_home_action_socket))
    send_home_action_socket_async = on_loop_async(_on_standin(drive.send_home_action_socket))

    # ---- Socket Mode control ---------------------------------------------------------

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
