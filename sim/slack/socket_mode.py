"""Socket Mode: the websocket Slack pushes envelopes over, served by the stand-in.

The bot calls `apps.connections.open`, gets a `ws://127.0.0.1:PORT/link/?ticket=...` URL,
connects and receives `hello`. Envelopes (`slash_commands`, `interactive`) go to the newest
live connection and the stand-in waits for the bot's `{"envelope_id": ...}` ack, timing it:
the 3-second ack deadline is what rollbot's design is built around. `request_reconnect`
sends the `disconnect`/`refresh_requested` message Slack sends before rotating a
connection; `drop_connection` kills one without ceremony.

Everything here runs on the stand-in's event loop; the harness crosses threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from sim.slack.records import APP_ID, JsonDict
from sim.slack.state import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SocketDelivery:
    """How one envelope fared: acked or not, how fast, and what the bot answered with."""

    envelope_id: str
    type: str
    acked: bool
    latency: float | None
    ack_payload: JsonDict | None
    response_url: str | None
    connection_id: int | None

    @property
    def within_deadline(self) -> bool:
        """Acked inside Slack's 3-second window."""
        return self.acked and self.latency is not None and self.latency < 3.0


@dataclass
class _Connection:
    id: int
    ws: web.WebSocketResponse
    request: web.Request
    opened_at: float = field(default_factory=time.monotonic)


class SocketHub:
    """Tickets, live websocket connections and envelopes awaiting acks."""

    def __init__(self, *, workspace: Workspace, ws_base_url: Callable[[], str]) -> None:
        self._ws = workspace
        self._ws_base_url = ws_base_url
        self._tickets: set[str] = set()
        self._live: list[_Connection] = []
        self._pending: dict[str, asyncio.Future[tuple[JsonDict | None, float]]] = {}
        self._connected: asyncio.Event | None = None
        self.connections_opened = 0
        self.deliveries: list[SocketDelivery] = []

    def _event(self) -> asyncio.Event:
        # Created lazily so it belongs to the stand-in's loop, not the constructing thread's.
        if self._connected is None:
            self._connected = asyncio.Event()
        return self._connected

    @property
    def live_connections(self) -> int:
        return len(self._live)

    def open_url(self) -> str:
        """A fresh connection URL, as apps.connections.open returns."""
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return f"{self._ws_base_url()}link/?ticket={ticket}&app_id={APP_ID}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            raise web.HTTPUnauthorized(text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections_opened += 1
        conn = _Connection(self.connections_opened, ws, request)
        self._live.append(conn)
        self._event().set()
        await ws.send_json(self._hello())
        self._ws.notify()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(str(msg.data))
        finally:
            self._forget(conn)
        return ws

    def _hello(self) -> JsonDict:
        return {
            "type": "hello",
            "num_connections": len(self._live),
            "debug_info": {
                "host": "applink-sim",
                "build_number": 1,
                "approximate_connection_time": 3600,
            },
            "connection_info": {"app_id": APP_ID},
        }

    def _forget(self, conn: _Connection) -> None:
        if conn in self._live:
            self._live.remove(conn)
        if not self._live:
            self._event().clear()
        self._ws.notify()

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("socket mode: ignoring a non-JSON frame")
            return
        if not isinstance(message, dict):
            return
        future = self._pending.get(str(message.get("envelope_id")))
        if future is not None and not future.done():
            payload = message.get("payload")
            future.set_result((payload if isinstance(payload, dict) else None, time.monotonic()))

    async def deliver(
        self,
        envelope_type: str,
        payload: JsonDict,
        *,
        timeout: float,  # noqa: ASYNC109 - an unacked envelope is a result, not an error
        response_url: str | None = None,
    ) -> SocketDelivery:
        """Send one envelope to the newest connection and wait (bounded) for its ack."""
        deadline = time.monotonic() + timeout
        envelope_id = str(uuid.uuid4())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event().wait(), timeout)
        conn = self._live[-1] if self._live else None
        acked, ack_payload, latency = False, None, None
        if conn is not None:
            future: asyncio.Future[tuple[JsonDict | None, float]] = (
                asyncio.get_running_loop().create_future()
            )
            self._pending[envelope_id] = future
            sent = time.monotonic()
            try:
                await conn.ws.send_json(
                    {
                        "envelope_id": envelope_id,
                        "type": envelope_type,
                        "payload": payload,
                        "accepts_response_payload": envelope_type == "slash_commands",
                    }
                )
                remaining = max(deadline - time.monotonic(), 0.0)
                ack_payload, acked_at = await asyncio.wait_for(future, remaining)
                acked, latency = True, acked_at - sent
            except (TimeoutError, ConnectionError):
                pass
            finally:
                self._pending.pop(envelope_id, None)
        delivery = SocketDelivery(
            envelope_id=envelope_id,
            type=envelope_type,
            acked=acked,
            latency=latency,
            ack_payload=ack_payload,
            response_url=response_url,
            connection_id=conn.id if conn else None,
        )
        self.deliveries.append(delivery)
        self._ws.notify()
        return delivery

    async def request_reconnect(self) -> bool:
        """Ask the newest connection to move, as Slack does before recycling a host."""
        if not self._live:
            return False
        await self._live[-1].ws.send_json(
            {
                "type": "disconnect",
                "reason": "refresh_requested",
                "debug_info": {"host": "applink-sim"},
            }
        )
        return True

    async def drop_connection(self, *, clean: bool = False) -> bool:
        """Cut the newest connection: abruptly (no close frame) unless `clean`."""
        if not self._live:
            return False
        conn = self._live[-1]
        if clean:
            await conn.ws.close(code=1001, message=b"going away")
        elif conn.request.transport is not None:
            conn.request.transport.abort()
        self._forget(conn)
        return True

    async def close_all(self) -> None:
        for conn in list(self._live):
            with contextlib.suppress(Exception):
                await conn.ws.close()
            self._forget(conn)
