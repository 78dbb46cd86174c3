"""`rollbot serve`: the Slack bot as a long-running process.

Socket Mode when `SLACK_APP_TOKEN` is set (no public URL needed), else HTTP with Slack's
requests at `POST /slack/events`. Either way `GET /healthz` and `GET /metrics` are served
on `--port`. At start the journal's unfinished rollouts and releases are taken up again;
on SIGTERM or SIGINT the bot stops taking requests, lets in-flight replies finish
(bounded), and shuts the release pipeline and the engine down so every release and
rollout is left resumable.

Secrets and endpoints come from the environment (SPEC section 8): SLACK_BOT_TOKEN,
SLACK_APP_TOKEN, SLACK_SIGNING_SECRET, SLACK_API_URL, KUBECONFIG, ROLLBOT_CONFIG,
ROLLBOT_DB, and for releases DOCKER_HOST, REGISTRY_USERNAME and REGISTRY_PASSWORD; the log's
format and level from ROLLBOT_LOG_FORMAT and ROLLBOT_LOG_LEVEL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot import logs
from bot.app import RuntimeView, build_app, edge_of
from bot.clock import SystemClock
from bot.endpoints import EVENTS_PATH, web_app
from bot.metrics import CountingProxy, Metrics
from bot.slack.socket_mode import TimedSocketModeHandler
from bot.slack.web import DEFAULT_API_URL, delivery_client
from rollout.errors import ConfigError, RollbotError
from rollout.ports import Cluster, ErrorRates, Listener

if TYPE_CHECKING:
    from bot.config import Config
    from bot.release import Releases
    from bot.slack import SlackDelivery
    from bot.slack.home import HomeBoard
    from rollout.release.ports import ReleaseListener

log = logging.getLogger("rollbot.serve")

DEFAULT_PORT = 3000
DRAIN_SECONDS = 10.0  # how long in-flight replies may take at shutdown
FLUSH_SECONDS = 5.0  # how long queued Slack posts may take at shutdown
EDGE_THREADS = 16  # blocking calls of the Slack handlers (journal, engine, cluster reads)
DELIVERY_TIMEOUT = 10  # seconds for one Web API call of the delivery
INBOX_POLL_SECONDS = 0.5  # how soon a request from a terminal reaches a rollout the bot drives


@dataclass(frozen=True)
class ServeSettings:
    """What `serve` runs with: flags and the environment, checked once at start."""

    bot_token: str
    signing_secret: str
    app_token: str = ""
    api_url: str = DEFAULT_API_URL
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    config: str | None = None
    db: str | None = None
    kubeconfig: str | None = None
    post_interval: float = 1.0  # seconds between posts to one channel (Slack's pace)

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)

    @classmethod
    def from_env(cls, args: argparse.Namespace, env: Mapping[str, str]) -> ServeSettings:
        # Socket Mode needs no signing secret: requests come over the app's own websocket.
        needed = ["SLACK_BOT_TOKEN"] + (
            [] if env.get("SLACK_APP_TOKEN") else ["SLACK_SIGNING_SECRET"]
        )
        missing = [k for k in needed if not env.get(k)]
        if missing:
            raise ConfigError(", ".join(missing), "must be set in the environment")
        return cls(
            bot_token=env["SLACK_BOT_TOKEN"],
            signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
            app_token=env.get("SLACK_APP_TOKEN", ""),
            api_url=env.get("SLACK_API_URL") or DEFAULT_API_URL,
            host=args.host,
            port=args.port,
            config=args.config,
            db=args.db,
            kubeconfig=args.kubeconfig,
        )


RuntimeFactory = Callable[[ServeSettings, "Config", Sequence[Listener]], RuntimeView]


@dataclass
class Server:
    """A running bot: its web server, its Slack connection and its runtime."""

    settings: ServeSettings
    runtime: RuntimeView
    app: AsyncApp
    metrics: Metrics
    runner: web.AppRunner
    delivery: SlackDelivery | None = None
    executor: ThreadPoolExecutor | None = None
    socket: AsyncSocketModeHandler | None = None
    releases: Releases | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def port(self) -> int:
        address = self.runner.addresses[0]
        return int(address[1])

    async def close(self) -> None:
        """Stop taking requests, let replies in flight finish, stop the engine, then give
        the delivery a moment to post what is queued (the rest stays in the journal)."""
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.close_async()  # type: ignore[no-untyped-call]
        await self.runner.cleanup()
        pending = set(edge_of(self.app).tasks)
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_SECONDS)
        self.metrics.set("rollbot_up", 0)
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        await _stop_all(self.runtime, self.delivery, self.releases, flush=True)


async def _stop_all(
    runtime: RuntimeView, delivery: SlackDelivery | None, releases: Releases | None, *,
    flush: bool,
) -> None:
    """Releases first (their builds end; a restart takes them up), then the engine, then
    the delivery, given a moment to post what is queued when `flush`."""
    if releases is not None:
        await asyncio.to_thread(releases.shutdown)
    await asyncio.to_thread(runtime.close)
    if delivery is not None:
        if flush:
            await asyncio.to_thread(delivery.flush, FLUSH_SECONDS)
        await asyncio.to_thread(delivery.close)


def default_runtime(
    settings: ServeSettings,
    config: Config,
    listeners: Sequence[Listener],
    *,
    use_registry: bool = True,
) -> RuntimeView:
    from bot.runtime import build_runtime

    metrics = next((m for m in listeners if isinstance(m, Metrics)), None)

    def counted(cluster: Cluster) -> Cluster:
        return cast(Cluster, CountingProxy(cluster, metrics)) if metrics else cluster

    def counted_rates(rates: ErrorRates) -> ErrorRates:
        if metrics is None:
            return rates
        return cast(ErrorRates, CountingProxy(rates, metrics, system="prometheus"))

    runtime = build_runtime(
        config=config,
        db=settings.db,
        kubeconfig=settings.kubeconfig,
        listeners=listeners,
        # `rollbot approve` in a terminal writes to the journal; the bot picks it up.
        poll_inbox_every=INBOX_POLL_SECONDS,
        wrap_cluster=counted,
        wrap_error_rates=counted_rates,
        use_registry=use_registry,
    )
    if metrics is not None:
        metrics.watch_kubernetes(runtime.cluster.limits, runtime.cluster.throttle)
    return runtime


def default_delivery(settings: ServeSettings, config: Config, metrics: Metrics) -> SlackDelivery:
    """The listener that posts each rollout's conversation, journalled next to the store:
    in the channel the rollout was asked for in, else the first release channel. Without
    release channels, commands are taken in any channel, so there is still somewhere to
    post what Slack started; a rollout started elsewhere is then not posted."""
    from bot.release import log_tail
    from bot.runtime import db_path
    from bot.slack import SlackDelivery

    channels = config.slack.release_channels
    if not channels:
        log.info(
            "no slack.release_channels configured: rollouts are posted where they were asked "
            "for, and those started outside Slack are not posted"
        )
    specs = config.apps_specs()
    client = delivery_client(
        token=settings.bot_token, api_url=settings.api_url, timeout=DELIVERY_TIMEOUT,
        metrics=metrics,
    )  # fmt: skip
    return SlackDelivery(
        client=client,
        db_path=db_path(settings.db),
        release_channel=channels[0] if channels else None,
        notify_channel=config.slack.notify_channel,
        approvers=lambda app: specs[app].approvers if app in specs else (),
        min_interval=settings.post_interval,
        read_tail=log_tail,
    )


def default_home(delivery: SlackDelivery | None, config: Config) -> HomeBoard | None:
    """The App Home tabs, drawn from the journal and sent through the delivery's outbox;
    None without a delivery (nothing would send them)."""
    from bot.slack.home import HomeBoard

    if delivery is None:
        return None
    return HomeBoard(outlet=delivery, apps=config.apps_specs(), now=SystemClock().now)


def default_releases(
    config: Config, runtime: RuntimeView, listeners: Sequence[ReleaseListener]
) -> Releases | None:
    """The release pipeline beside the engine, its progress told to `listeners` (the Slack
    delivery); None beside a runtime that is not rollbot's own (a test's stand-in)."""
    from bot.release import Releases
    from bot.runtime import Runtime

    if not isinstance(runtime, Runtime):
        return None
    return Releases(config=config, runtime=runtime, listeners=listeners)


async def start(
    settings: ServeSettings,
    *,
    config: Config | None = None,
    make_runtime: RuntimeFactory = default_runtime,
    listeners: Sequence[Listener] = (),
    post_progress: bool = True,
) -> Server:
    """Build everything, resume unfinished rollouts, and start serving."""
    from bot.config import load_config

    if config is None:
        config = await asyncio.to_thread(load_config, settings.config)
    metrics = Metrics()
    delivery = (
        await asyncio.to_thread(default_delivery, settings, config, metrics)
        if post_progress
        else None
    )
    home = default_home(delivery, config)
    heard: list[Listener] = [metrics, *listeners]
    if delivery is not None and home is not None:
        heard[1:1] = [delivery, home]
    try:
        runtime = await asyncio.to_thread(make_runtime, settings, config, heard)
    except BaseException:
        if delivery is not None:
            await asyncio.to_thread(delivery.close)
        raise
    if delivery is not None:
        delivery.use_paces(runtime.engine.paces.of)
    executor = ThreadPoolExecutor(EDGE_THREADS, thread_name_prefix="rollbot-edge")
    releases: Releases | None = None
    try:
        told: list[ReleaseListener] = [delivery, home] if delivery and home else []
        releases = await asyncio.to_thread(default_releases, config, runtime, told)
        if home is not None:
            home.attach(runtime.store, releases)
        app = build_app(
            runtime,
            signing_secret=settings.signing_secret,
            bot_token=settings.bot_token,
            api_url=settings.api_url,
            metrics=metrics,
            socket_mode=settings.socket_mode,
            delivery=delivery,
            executor=executor,
            releases=releases,
            home=home,
        )
        routes = web_app(
            app,
            runtime,
            metrics,
            delivery,
            socket_mode=settings.socket_mode,
            signing_secret=settings.signing_secret,
        )
        runner = web.AppRunner(routes, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.host, settings.port).start()
        server = Server(
            settings, runtime, app, metrics, runner, delivery=delivery, executor=executor,
            releases=releases,
        )
        if delivery is not None:
            delivery.start()  # what an earlier run left queued goes out first
        await _resume(runtime, metrics)
        await _resume_releases(releases)
        if settings.socket_mode:
            server.socket = TimedSocketModeHandler(app, settings.app_token, metrics=metrics)
            await server.socket.connect_async()  # type: ignore[no-untyped-call]
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        await _stop_all(runtime, delivery, releases, flush=False)
        raise
    metrics.set("rollbot_up", 1)
    mode = "Socket Mode" if settings.socket_mode else f"HTTP at {EVENTS_PATH}"
    log.info("rollbot serving (%s) on %s:%s", mode, settings.host, server.port)
    return server


async def _resume(runtime: RuntimeView, metrics: Metrics) -> None:
    resumed = await asyncio.to_thread(runtime.resume_unfinished)
    metrics.track_rollouts(resumed)
    for rollout in resumed:
        log.info("resumed #%s %s %s (%s)", rollout.id, rollout.app, rollout.version, rollout.phase)


async def _resume_releases(releases: Releases | None) -> None:
    """Unfinished releases go on next to the rollouts (SPEC section 9, restarts)."""
    if releases is None:
        return
    for release in await asyncio.to_thread(releases.resume_unfinished):
        log.info("resumed release %s %s", release.label, release.version)


# --- the command line -------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rollbot serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)))
    parser.add_argument("--host", default=os.environ.get("ROLLBOT_HOST", "0.0.0.0"))
    parser.add_argument("--config", default=None, help="rollbot.yaml (default: $ROLLBOT_CONFIG)")
    parser.add_argument("--db", default=None, help="the journal (default: $ROLLBOT_DB)")
    parser.add_argument("--kubeconfig", default=None, help="default: $KUBECONFIG or in-cluster")
    parser.add_argument(
        logs.FORMAT_FLAG,
        default=None,
        metavar="{text,json}",
        help=f"text lines or one JSON object a line (default: ${logs.FORMAT_ENV}, else text)",
    )
    return parser.parse_args(list(argv))


async def run(settings: ServeSettings) -> int:
    server = await start(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.stopping.set)
    try:
        await server.stopping.wait()
        log.info("rollbot stopping")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await server.close()
    return 0


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    try:
        logs.configure(logs.log_format(args.log_format, os.environ), os.environ)
        settings = ServeSettings.from_env(args, os.environ)
        return asyncio.run(run(settings))
    except ConfigError as exc:
        print(f"rollbot serve: configuration error: {exc}", file=sys.stderr)
        return 2
    except RollbotError as exc:
        print(f"rollbot serve: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"rollbot serve: {exc}", file=sys.stderr)
        return 1
