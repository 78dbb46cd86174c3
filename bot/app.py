"""The Bolt app: rollbot's Slack handlers wired to a runtime, on asyncio.

`AsyncApp` on aiohttp, because a slash command must be acked within three seconds however
busy the bot is: nothing in the handlers blocks the event loop (the engine, the journal
and the cluster are reached through threads). The Web API client points at
`SLACK_API_URL`, so tests and `rollbot demo` can put the Slack stand-in there, and it
retries Slack's 429s (after Retry-After), 5xx answers and dropped connections.

Bolt's own request verification is off: over HTTP, `bot.serve` puts `bot.slack.verify` in
front of the app, so a request that is unsigned, wrongly signed, stale or a replay gets
401 before Bolt sees it. Socket Mode requests arrive on the app's own websocket.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from slack_bolt.async_app import AsyncApp

from bot.clock import SystemClock
from bot.metrics import Metrics
from bot.slack.web import CountingWebClient, bot_client, retry_handlers
from handlers.actions import register_actions
from handlers.edge import Edge
from handlers.groups import GroupCache, slack_group_fetcher
from handlers.home import register_home
from handlers.ports import ReleasePort
from handlers.slash import register_commands
from rollout.actions import Action
from rollout.model import AppSpec, HealthSpec, Rollout
from rollout.ports import Cluster, Store

if TYPE_CHECKING:
    from bot.slack import SlackDelivery
    from bot.slack.home import HomeBoard
    from rollout.engine import Engine

log = logging.getLogger(__name__)



class SlackSettings(Protocol):
    @property
    def release_channels(self) -> Sequence[str]: ...


class ConfigView(Protocol):
    @property
    def slack(self) -> SlackSettings: ...

    def apps_specs(self) -> dict[str, AppSpec]: ...

    def health_spec(self) -> HealthSpec: ...


class RuntimeView(Protocol):
    """What the Slack app needs of `bot.runtime.Runtime`."""

    @property
    def config(self) -> ConfigView: ...

    @property
    def store(self) -> Store: ...

    @property
    def cluster(self) -> Cluster: ...

    @property
    def engine(self) -> Engine: ...

    def resume_unfinished(self, rollout_id: int | None = None) -> list[Rollout]:
        """Adopt unfinished rollouts no other live process drives."""
        ...

    def close(self) -> None: ...


def build_app(
    runtime: RuntimeView,
    *,
    signing_secret: str,
    bot_token: str,
    api_url: str | None = None,
    metrics: Metrics | None = None,
    group_ttl: float = 300.0,
    socket_mode: bool = False,
    delivery: SlackDelivery | None = None,
    executor: Executor | None = None,
    releases: ReleasePort | None = None,
    home: HomeBoard | None = None,
) -> AsyncApp:
    """The Bolt app with every rollbot command and button, and the App Home tab, registered.

    The edge it serves is on `app.edge` (an attribute this function sets) so that the
    server can wait for in-flight replies at shutdown. Over HTTP a signing secret is
    required (the server verifies each request with it before dispatching it here);
    Socket Mode requests arrive on the app's own websocket and need none."""
    if not signing_secret and not socket_mode:
        raise ValueError("a signing secret is required: Slack's requests are verified")
    client = bot_client(token=bot_token, api_url=api_url, metrics=metrics or Metrics())
    app = AsyncApp(
        signing_secret=signing_secret,
        client=client,
        request_verification_enabled=False,  # done in front of the app: bot.slack.verify
        name="rollbot",
    )
    edge = build_edge(runtime, client=client, group_ttl=group_ttl, delivery=delivery,
                      releases=releases, home=home)
    edge.executor = executor
    register_commands(app, edge)
    register_actions(app, edge)
    register_home(app, edge)
    app.error(_log_error)
    app.edge = edge  # type: ignore[attr-defined]
    return app


def build_edge(
    runtime: RuntimeView,
    *,
    client: CountingWebClient,
    group_ttl: float,
    delivery: SlackDelivery | None = None,
    releases: ReleasePort | None = None,
    home: HomeBoard | None = None,
) -> Edge:
    config = runtime.config
    return Edge(
        apps=config.apps_specs(),
        release_channels=tuple(config.slack.release_channels),
        health=config.health_spec(),
        port=EdgeServices(runtime, delivery, releases, home),
        groups=GroupCache(slack_group_fetcher(client), ttl=group_ttl),
        client=client,
        webhook_retries=retry_handlers(),
    )


class EdgeServices:
    """The Slack edge's one port (:class:`handlers.ports.EdgePort`): the runtime's journal,
    cluster and engine, the release pipeline, and the Slack delivery's journal and the
    Home tabs when there are."""

    def __init__(
        self, runtime: RuntimeView, delivery: SlackDelivery | None,
        releases: ReleasePort | None = None, home: HomeBoard | None = None,
    ) -> None:
        engine = runtime.engine
        self.store, self.cluster, self.clock = runtime.store, runtime.cluster, SystemClock()
        self.start, self.submit = engine.start, engine.submit
        self.rollback_app = engine.rollback_app
        self.plan, self.preview, self.eta = engine.plan, engine.preview, engine.eta
        self._delivery = delivery
        self._home = home
        self.releases = releases

    def home_opened(self, user: str, member_of: frozenset[str]) -> None:
        if self._home is not None:
            self._home.opened(user, member_of)

    def message_ref(self, rollout_id: int) -> tuple[str, str] | None:
        return None if self._delivery is None else self._delivery.message_ref(rollout_id)

    def mark_decided(
        self, *, channel: str, ts: str, user: str, action: Action, at: datetime
    ) -> bool:
        if self._delivery is None:
            return False
        self._delivery.mark_decided(channel=channel, ts=ts, user=user, action=action, at=at)
        return True


def edge_of(app: AsyncApp) -> Edge:
    edge = getattr(app, "edge", None)
    if not isinstance(edge, Edge):
        raise TypeError("not an app made by build_app()")
    return edge


async def _log_error(error: Exception, body: Mapping[str, Any]) -> None:
    kind = body.get("type") or body.get("command") or "request"
    log.error("unhandled error in a Slack %s: %s", kind, error, exc_info=error)
