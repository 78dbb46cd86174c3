"""The whole bot under test: `rollbot serve` in-process, the Slack stand-in, the simulated
cluster, a real journal on disk.

Nothing is patched: the Bolt app receives signed HTTP requests (or Socket Mode envelopes)
from the stand-in, talks to it through `SLACK_API_URL`, and drives the simulated cluster
through the real Kubernetes client. Windows and waits are shrunk in the config so a
rollout takes seconds.

People in these tests: Alice deploys (listed by ID), Dave deploys through S0RELEASE, Bob
deploys and approves (listed by ID), Carol approves through S0LEADS, Mallory may do
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import serve
from bot.app import RuntimeView
from bot.config import Config, parse_config
from bot.endpoints import EVENTS_PATH
from bot.runtime import Runtime
from rollout.model import Phase, Rollout
from rollout.ports import Listener
from sim.kube.harness import SimHandle, start_sim
from sim.slack import Ephemeral, HttpDelivery, SignatureMode, SlackHandle, start_slack
from sim.slack.records import Message

C = "C0RELEASES"
NOTIFY = "C0STAKEHOLDERS"
ELSEWHERE = "C0RANDOM"
ALICE, BOB, CAROL, DAVE, MALLORY = "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0MALLORY"
USERGROUPS = {"S0RELEASE": [DAVE], "S0LEADS": [CAROL]}
CHANNELS = {C: "releases", NOTIFY: "stakeholders", ELSEWHERE: "random"}
ACK_DEADLINE = 3.0
SLOW_CALLBACK = 0.25  # seconds; a callback holding the loop longer is a blocking call
WAIT = 30.0  # upper bound for anything a test waits on
POST_INTERVAL = 0.05  # Slack's one post a second per channel, sped up for tests

ISP_IMAGE = "123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac/isp-ops-app"
ADMIN_IMAGE = "123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac/platform-admin-app"


def config_text(
    *,
    approvals_required: int = 1,
    four_eyes: bool = True,
    approval: bool = True,
    pilot: int = 2,
    batch: int = 5,
    wait: str = "0s",
    pilot_monitor: str = "1s",
) -> str:
    """rollbot.yaml as an operator writes it, with windows shrunk to seconds."""
    return f"""
slack:
  release_channels: [{C}]
  notify_channel: {NOTIFY}
registry:
  verify_images: false
apps:
  admin:
    strategy: blue-green
    image: {ADMIN_IMAGE}
    namespace: platform-admin
    deployment: platform-admin-app
    service: platform-admin-app
    container: frontend
    config_map: platform-admin-config
    monitor: 1s
    approval: false
    deployers: [{ALICE}, S0RELEASE]
    approvers: [{BOB}, S0LEADS]
  isp:
    strategy: rolling
    image: {ISP_IMAGE}
    tenant_selector: app.kubernetes.io/component=tenant
    deployment: isp-ops-app
    container: frontend
    batch: {batch}
    wait: {wait}
    pilot: {pilot}
    pilot_monitor: {pilot_monitor}
    rollout_timeout: 30s
    approval: {str(approval).lower()}
    approvals_required: {approvals_required}
    four_eyes: {str(four_eyes).lower()}
    approval_timeout: 1h
    auto_rollback: false
    error_rate: 5%
    deployers: [{ALICE}, {BOB}, S0RELEASE]
    approvers: [{BOB}, S0LEADS]
"""


@dataclass
class Bot:
    """A running bot and the fakes around it, with the verbs tests use."""

    slack: SlackHandle
    sim: SimHandle
    server: serve.Server
    db: Path
    config: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def events_url(self) -> str:
        return f"{self.base_url}{EVENTS_PATH}"

    @property
    def runtime(self) -> Runtime:
        runtime = self.server.runtime
        assert isinstance(runtime, Runtime)
        return runtime

    async def command(
        self,
        text: str,
        *,
        user: str = ALICE,
        channel: str = C,
        command: str = "/deploy",
        signature: SignatureMode = SignatureMode.VALID,
    ) -> HttpDelivery:
        if self.server.settings.socket_mode:
            raise RuntimeError("this bot takes commands over Socket Mode")
        return await self.slack.send_slash_command_async(
            self.events_url,
            text=text,
            user_id=user,
            channel_id=channel,
            command=command,
            signature=signature,
        )

    async def deploy(self, text: str, *, user: str = ALICE) -> int:
        """`/deploy <text>` that must be accepted; the new rollout's ID, once it exists."""
        sent = await self.command(text, user=user)
        assert sent.status == 200 and sent.elapsed < ACK_DEADLINE
        accepted = await self.reply(user, "accepted", after=len(self.replies(user)) - 1)
        found = re.search(r"Rollout #(\d+)", accepted.text)
        assert found is not None, accepted.text
        return int(found.group(1))

    async def click(
        self, action_id: str, *, ts: str, user: str, value: str | None = None, channel: str = C
    ) -> HttpDelivery:
        return await self.slack.send_block_action_async(
            self.events_url,
            action_id=action_id,
            value=value,
            user_id=user,
            message_ts=ts,
            channel_id=channel,
        )

    async def reply(self, user: str, contains: str = "", *, after: int = 0) -> Ephemeral:
        """The first private reply to `user` past the first `after` that holds `contains`."""

        def find() -> Ephemeral | None:
            for eph in self.slack.ephemerals(user)[after:]:
                if contains in eph.text:
                    return eph
            return None

        found = await self.slack.wait_for_async(find, WAIT)
        assert found is not None
        return found

    def replies(self, user: str) -> list[Ephemeral]:
        return self.slack.ephemerals(user)

    async def wait(self, rollout_id: int) -> Rollout:
        """Until the rollout ends or waits for people (the engine's own `wait`)."""
        return await asyncio.to_thread(self.runtime.engine.wait, rollout_id, WAIT)

    async def reach(self, rollout_id: int, *phases: Phase) -> Rollout:
        """Until the rollout is in one of `phases` (or has ended)."""
        wanted = set(phases)

        def reached() -> Rollout:
            return self.runtime.engine.wait(
                rollout_id, WAIT, until=lambda r: r.phase in wanted or r.phase.terminal
            )

        return await asyncio.to_thread(reached)

    async def rollout(self, rollout_id: int) -> Rollout:
        found = await asyncio.to_thread(self.runtime.store.get, rollout_id)
        assert found is not None
        return found

    async def approval_message(self, rollout_id: int) -> Message:
        """The approval request the delivery posted in the rollout's thread."""
        return await self.slack.wait_for_message_async(
            C, f"Approval needed for #{rollout_id}", timeout=WAIT
        )

    async def decided(self, ts: str, verb: str, *, channel: str = C) -> Message:
        """The message at `ts` once it was edited to say `verb` (e.g. Approved): the
        engine has taken the click by then."""

        def edited() -> Message | None:
            message = self.slack.message(channel, ts)
            return message if message and message.edited and verb in message.text else None

        found = await self.slack.wait_for_async(edited, WAIT)
        assert found is not None
        return found


def slack_standin() -> SlackHandle:
    return start_slack(usergroups=USERGROUPS, channels=CHANNELS)


@contextlib.asynccontextmanager
async def running_bot(
    tmp_path: Path,
    *,
    tenants: int = 12,
    socket_mode: bool = False,
    config: str | None = None,
    slack: SlackHandle | None = None,
    sim: SimHandle | None = None,
    listeners: tuple[Listener, ...] = (),
    post_progress: bool = True,
) -> AsyncIterator[Bot]:
    """Start the bot (and the stand-ins unless given); stop all of it afterwards."""
    own_slack, own_sim = slack is None, sim is None
    if slack is None:
        slack = await asyncio.to_thread(slack_standin)
    if sim is None:
        sim = await asyncio.to_thread(start_sim, tenants=tenants, ready_delay=0.02)
    text = config or config_text()
    db = tmp_path / "rollbot.db"
    settings = serve.ServeSettings(
        bot_token=slack.bot_token,
        signing_secret=slack.signing_secret,
        app_token=slack.app_token if socket_mode else "",
        api_url=slack.api_url,
        host="127.0.0.1",
        port=0,
        db=str(db),
        kubeconfig=str(sim.kubeconfig),
        post_interval=POST_INTERVAL,
    )

    def make_runtime(
        s: serve.ServeSettings, config: Config, heard: Sequence[Listener]
    ) -> RuntimeView:
        return serve.default_runtime(s, config, heard, use_registry=False)

    server = await serve.start(
        settings,
        config=parse_config(text),
        make_runtime=make_runtime,
        listeners=listeners,
        post_progress=post_progress,
    )
    bot = Bot(slack=slack, sim=sim, server=server, db=db, config=text)
    try:
        if socket_mode:
            await slack.wait_socket_connected_async(timeout=WAIT)
        yield bot
    finally:
        await server.close()
        if own_slack:
            await asyncio.to_thread(slack.close)
        if own_sim:
            await asyncio.to_thread(sim.stop)


@contextlib.contextmanager
def loop_watch(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[str]]]:
    """asyncio debug mode on the running loop: a callback that holds the loop longer than
    SLOW_CALLBACK is logged by asyncio. The yielded function lists those that ran
    rollbot's own code (handlers/, bot/); the simulators share this process and its
    GIL, so any callback can be slowed now and then by their work, which says nothing
    about the bot."""
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK
    caplog.set_level(logging.WARNING, logger="asyncio")

    def slow() -> list[str]:
        found = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
        return [m for m in found if "took" in m and ("/handlers/" in m or "/bot/" in m)]

    try:
        yield slow
    finally:
        loop.set_debug(False)
