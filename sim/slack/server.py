"""The stand-in's aiohttp application: one object owning the workspace and every endpoint.

Routes: `/api/{method}` (Web API), `/response/{id}` (response_urls), `/link/` (Socket
Mode websocket), `/upload/{file_id}` (the upload URLs files.getUploadURLExternal hands
out) and `/archives/{channel}/p{ts}` (permalinks, answered with the thread as plain text
so a link printed by the demo leads somewhere). `StandIn` must be started and
used on one event loop; `harness` runs it on a background thread for everyone else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aiohttp
from aiohttp import web

from sim.slack.faults import FaultPlan
from sim.slack.methods import ApiContext
from sim.slack.response_urls import ResponseUrls
from sim.slack.socket_mode import SocketHub
from sim.slack.state import Workspace
from sim.slack.transcript import render_thread
from sim.slack.web_api import ApiSettings, WebApi


class StandIn:
    """Slack's Web API, response_urls and Socket Mode over one in-memory workspace."""

    def __init__(
        self,
        *,
        bot_token: str,
        app_token: str,
        signing_secret: str,
        channels: Mapping[str, str] | None = None,
        users: Mapping[str, str] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.signing_secret = signing_secret
        self.port = 0
        self.workspace = Workspace(channels=channels, users=users, usergroups=usergroups)
        self.faults = FaultPlan()
        self.settings = ApiSettings(bot_token=bot_token, app_token=app_token)
        self.responses = ResponseUrls(
            workspace=self.workspace, faults=self.faults, base_url=lambda: self.base_url
        )
        self.sockets = SocketHub(workspace=self.workspace, ws_base_url=lambda: self.ws_base_url)
        self._context = ApiContext(
            workspace=self.workspace, base_url="", open_socket_url=self.sockets.open_url
        )
        self.files = self._context.files  # files.getUploadURLExternal and its upload URL
        self.views = self._context.views  # the Home tabs views.publish left
        self.api = WebApi(
            workspace=self.workspace,
            faults=self.faults,
            settings=self.settings,
            context=self._context,
        )
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}api/"

    @property
    def ws_base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self.api.handle)
        app.router.add_post("/response/{id}", self.responses.handle)
        app.router.add_get("/link/", self.sockets.handle)
        app.router.add_get("/archives/{channel}/{p}", self._archive)
        app.router.add_post("/upload/{file_id}", self.files.receive)
        return app

    async def start(self, port: int = 0) -> None:
        self._runner = web.AppRunner(self.build_app(), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._context.base_url = self.base_url

    async def stop(self) -> None:
        await self.sockets.close_all()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def session(self) -> aiohttp.ClientSession:
        """One client session for driving the bot, created on (and bound to) this loop."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _archive(self, request: web.Request) -> web.Response:
        channel = request.match_info["channel"]
        raw = request.match_info["p"].removeprefix("p")
        ts = request.query.get("thread_ts") or f"{raw[:-6]}.{raw[-6:]}"
        thread = self.workspace.thread(channel, ts)
        if not thread:
            raise web.HTTPNotFound(text="message_not_found")
        return web.Response(text=render_thread(thread))
