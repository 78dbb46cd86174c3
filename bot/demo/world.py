"""Everything the demo runs on, started in-process: the simulated cluster, the Slack
stand-in, a registry stand-in, and rollbot itself on the product's own serve path.

rollbot is started exactly as `rollbot serve` starts it in HTTP mode (`bot.serve.start`),
with the built-in configuration (the text of rollbot.example.yaml) and only its windows
shortened, a journal in a temporary directory, and the stand-ins' addresses where Slack's,
the cluster's and the registry's would be. Nothing of the user's environment is read:
no rollbot.yaml, no ROLLBOT_DB, no KUBECONFIG, no Slack tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from bot import serve
from bot.config import Config, default_config_text, parse_config
from bot.demo.printer import Printer
from bot.demo.registry import MirroredRegistry, RegistryStandIn
from bot.endpoints import EVENTS_PATH
from bot.runtime import Runtime, build_runtime
from rollout.model import Rollout, RolloutEvent
from rollout.ports import Listener, Registry
from sim.kube.harness import SimHandle, start_sim
from sim.kube.seed import BASE_VERSION, REGISTRY
from sim.slack import SlackHandle, start_slack

T = TypeVar("T")

RELEASES, STAKEHOLDERS = "C0RELEASES", "C0STAKEHOLDERS"
CHANNELS = {RELEASES: "releases", STAKEHOLDERS: "stakeholders"}
ALICE, BOB, CAROL, DAVE = "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"
USERS = {ALICE: "alice", BOB: "bob", CAROL: "carol", DAVE: "dave"}
# The example config names these groups; give them members so lookups have an answer.
GROUPS = {"S0RELEASE": [DAVE], "S0LEADS": [CAROL]}
NEW_VERSION = "v1.3.0"
RELEASE_VERSION = "v1.3.1"  # what `rollbot demo --release` builds, pushes and deploys
OLD_VERSION = BASE_VERSION
REGISTRY_HOST = REGISTRY.split("/", 1)[0]
REPOSITORIES = ("dotmac/isp-ops-app", "dotmac/platform-admin-app")
CONFIG_SOURCE = "the built-in rollbot.example.yaml, with the demo's windows"


@dataclass(frozen=True)
class Windows:
    """The config's waits and windows for one pace of the demo, and the sim's speed."""

    wait: str
    pilot_monitor: str
    monitor: str
    rollout_timeout: str
    ready_delay: float  # seconds a simulated pod takes to become ready
    deadline_scale: float  # progressDeadlineSeconds (600) times this, in the sim
    # Seconds between posts to one channel. Real Slack allows about one a second, and
    # the paced demo keeps to that; against the stand-in alone, --fast need not, as that
    # pace was most of its time.
    post_interval: float = 1.0

    def describe(self) -> str:
        return (f"wait {self.wait} between batches, pilot monitor {self.pilot_monitor}, "
                f"blue-green monitor {self.monitor}")


PACED = Windows(wait="2s", pilot_monitor="3s", monitor="3s", rollout_timeout="30s",
                ready_delay=0.4, deadline_scale=0.008)
FAST = Windows(wait="0s", pilot_monitor="1s", monitor="1s", rollout_timeout="30s",
               ready_delay=0.05, deadline_scale=0.005, post_interval=0.1)


def demo_config(windows: Windows) -> Config:
    """The built-in configuration with the demo's windows; checked like any rollbot.yaml."""
    return parse_config(yaml.safe_dump(demo_settings(windows), sort_keys=False),
                        source=CONFIG_SOURCE)


def demo_settings(windows: Windows) -> dict[str, Any]:
    """The built-in configuration's data with the demo's windows, not yet checked."""
    data: dict[str, Any] = yaml.safe_load(default_config_text())
    data["apps"]["admin"]["monitor"] = windows.monitor
    isp = data["apps"]["isp"]
    isp.update(wait=windows.wait, pilot_monitor=windows.pilot_monitor,
               rollout_timeout=windows.rollout_timeout)
    # Alice may approve isp rollouts too, so that her click on her own gate is refused by
    # four-eyes, not for want of the right.
    isp["approvers"] = [ALICE, *isp["approvers"]]
    return data


class Changes:
    """A pulse for coroutines waiting on things other threads change (the stand-in's
    messages, the engine's events): poke from anywhere, wait on the demo's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def poke(self, *_: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self._loop.call_soon_threadsafe(self._event.set)

    async def until(self, found: Callable[[], T | None], *, limit: float, what: str) -> T:
        """The first truthy `found()`, re-checked on every poke; TimeoutError naming `what`
        after `limit` seconds."""
        deadline = self._loop.time() + limit
        while True:
            self._event.clear()
            value = found()
            if value:
                return value
            left = deadline - self._loop.time()
            if left <= 0:
                raise TimeoutError(f"waited {limit:.0f}s for {what}")
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for can swallow the
            # cancellation Ctrl-C sends when the event is set at that same moment, and
            # the demo would run on to its end instead of stopping.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._event.wait()


class Watch:
    """A Listener keeping every rollout's latest state, for the script to wait on."""

    def __init__(self, changes: Changes) -> None:
        self._lock = threading.Lock()
        self._latest: dict[int, Rollout] = {}
        self._changes = changes

    def publish(self, event: RolloutEvent) -> None:
        with self._lock:
            self._latest[event.rollout.id] = event.rollout
        self._changes.poke()

    def rollouts(self) -> list[Rollout]:
        with self._lock:
            return sorted(self._latest.values(), key=lambda r: r.id)

    def latest(self, rollout_id: int) -> Rollout | None:
        with self._lock:
            return self._latest.get(rollout_id)



@dataclass
class Stage:
    """What every demo runs on: the simulators, the bot, and what the script waits with."""

    kube: SimHandle
    slack: SlackHandle
    server: serve.Server
    watch: Watch
    changes: Changes
    config: Config
    home: Path
    stack: contextlib.AsyncExitStack = field(repr=False)
    post_interval: float = 1.0  # the pace of posts to one channel (Windows.post_interval)

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}{EVENTS_PATH}"

    @property
    def runtime(self) -> Runtime:
        runtime = self.server.runtime
        assert isinstance(runtime, Runtime)
        return runtime

    async def close(self) -> None:
        """Bot first (so nothing is sent to a stopped stand-in), then the stand-ins, then
        the temporary directory: the reverse of the order they started in."""
        await self.stack.aclose()


@dataclass
class World(Stage):
    """The plain demo's stage: its images are known to a registry stand-in."""

    registry: RegistryStandIn = field(kw_only=True)


@dataclass
class Simulators:
    """The simulated cluster and the Slack stand-in, started into `stack`."""

    kube: SimHandle
    slack: SlackHandle
    changes: Changes
    home: Path
    stack: contextlib.AsyncExitStack


async def start_simulators(printer: Printer, *, windows: Windows, tenants: int,
                           stack: contextlib.AsyncExitStack) -> Simulators:
    """A temporary home, the simulated cluster and the Slack stand-in, each stopped by
    `stack` (the home removed last)."""
    changes = Changes(asyncio.get_running_loop())
    home = Path(tempfile.mkdtemp(prefix="rollbot-demo-"))
    stack.callback(shutil.rmtree, home, ignore_errors=True)
    kube = await asyncio.to_thread(
        start_sim, tenants=tenants, ready_delay=windows.ready_delay,
        deadline_scale=windows.deadline_scale, kubeconfig_path=home / "kubeconfig")
    stack.push_async_callback(asyncio.to_thread, kube.stop)
    slack = await asyncio.to_thread(
        start_slack, channels=CHANNELS, users=USERS, usergroups=GROUPS)
    stack.push_async_callback(asyncio.to_thread, slack.close)
    slack.on_event(printer.on_chat)
    slack.on_event(changes.poke)
    return Simulators(kube, slack, changes, home, stack)


async def start_bot(sims: Simulators, printer: Printer, *, config: Config, windows: Windows,
                    registry: Registry) -> tuple[serve.Server, Watch]:
    """rollbot on the simulators, stopped by their stack before them."""
    watch = Watch(sims.changes)
    server = await _start_bot(config, kube=sims.kube, slack=sims.slack, home=sims.home,
                              watch=watch, post_interval=windows.post_interval,
                              registry=registry)
    sims.stack.push_async_callback(server.close)
    sims.stack.callback(printer.mute_chat)  # runs first: shutting down is not the demo
    return server, watch


async def start_world(printer: Printer, *, windows: Windows, tenants: int) -> World:
    """Start the stand-ins and the bot; on any failure stop what was started."""
    stack = contextlib.AsyncExitStack()
    try:
        sims = await start_simulators(printer, windows=windows, tenants=tenants, stack=stack)
        registry = RegistryStandIn({repo: (OLD_VERSION, NEW_VERSION) for repo in REPOSITORIES})
        await registry.start()
        stack.push_async_callback(registry.stop)
        config = demo_config(windows)
        server, watch = await start_bot(
            sims, printer, config=config, windows=windows,
            registry=MirroredRegistry.to(registry.address, host=REGISTRY_HOST))
    except BaseException:
        await stack.aclose()
        raise
    return World(sims.kube, sims.slack, server, watch, sims.changes, config, sims.home, stack,
                 post_interval=windows.post_interval, registry=registry)


async def _start_bot(config: Config, *, kube: SimHandle, slack: SlackHandle, home: Path,
                     watch: Watch, registry: Registry,
                     post_interval: float) -> serve.Server:
    settings = serve.ServeSettings(
        bot_token=slack.bot_token,
        signing_secret=slack.signing_secret,
        api_url=slack.api_url,
        host="127.0.0.1",
        port=0,
        db=str(home / "rollbot.db"),
        kubeconfig=str(kube.kubeconfig),
        post_interval=post_interval,
    )

    def make_runtime(s: serve.ServeSettings, cfg: Config, heard: Sequence[Listener]) -> Runtime:
        return build_runtime(config=cfg, db=s.db, kubeconfig=s.kubeconfig,
                             listeners=heard, registry=registry)

    return await serve.start(settings, config=config, make_runtime=make_runtime,
                             listeners=(watch,))
