"""Helpers for the Slack story tests: `rollbot serve` as a real process, what the cluster
and the channel look like, read the way a person would check them.

The in-process bot and its fixtures live in `slack_fixtures`; this module adds what only
the story tests need: a child process that can be SIGKILLed and started again on the
same journal, per-tenant images and patch counts from the simulated cluster, and the
texts rollbot posted (first versions, since edits are not new posts).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sim.kube.harness import SimHandle
from sim.slack import ChatEvent, SlackHandle
from sim.slack.records import Call, Message
from tests.e2e.cli_support import REPO, ROLLBOT

DEPLOYMENT = "isp-ops-app"
START_TIMEOUT = 30.0  # a cold Python start on a busy two-core machine
STOP_TIMEOUT = 20.0
CHANNEL_CALLS = ("chat.postMessage", "chat.update")  # what Slack paces per channel
_SERVING = re.compile(r"rollbot serving .* on [\d.]+:(\d+)")


@dataclass
class ServeProcess:
    """One `python -m bot.cli serve` child, its log read in full so it never blocks."""

    proc: asyncio.subprocess.Process
    lines: list[str]
    reader: asyncio.Task[None]
    port: int

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def log(self) -> str:
        return "".join(self.lines)

    async def kill(self) -> int:
        """SIGKILL: no shutdown code runs, as when a node dies under the bot."""
        self.proc.send_signal(signal.SIGKILL)
        return await self._reap()

    async def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return await self._reap()

    async def _reap(self) -> int:
        code = await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)
        await asyncio.wait_for(self.reader, STOP_TIMEOUT)
        return code


def serve_env(*, slack: SlackHandle, sim: SimHandle, config: Path, db: Path) -> dict[str, str]:
    """The environment an operator gives `rollbot serve` in HTTP mode (SPEC section 8)."""
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "KUBECONFIG": str(sim.kubeconfig),
        "ROLLBOT_CONFIG": str(config),
        "ROLLBOT_DB": str(db),
    }
    env.pop("SLACK_APP_TOKEN", None)  # its presence would switch to Socket Mode
    return env


@contextlib.asynccontextmanager
async def serve_process(
    env: Mapping[str, str], *, args: Sequence[str] = ()
) -> AsyncIterator[ServeProcess]:
    """Start `rollbot serve [args]` on a free port; wait until it says where it serves.
    The child is killed on the way out whatever happened, so no test leaves one behind."""
    proc = await asyncio.create_subprocess_exec(
        *ROLLBOT,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",  # the port is read back from the log: no race for a guessed free port
        *args,
        env=dict(env),
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    reader = asyncio.create_task(_read_log(proc, lines, port))
    try:
        try:
            found = await asyncio.wait_for(asyncio.shield(port), START_TIMEOUT)
        except (TimeoutError, EOFError) as exc:
            raise AssertionError("rollbot serve did not start:\n" + "".join(lines)) from exc
        yield ServeProcess(proc, lines, reader, found)
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader, STOP_TIMEOUT)


async def _read_log(
    proc: asyncio.subprocess.Process, lines: list[str], port: asyncio.Future[int]
) -> None:
    assert proc.stderr is not None
    while line := await proc.stderr.readline():
        text = line.decode(errors="replace")
        lines.append(text)
        match = _SERVING.search(text)
        if match and not port.done():
            port.set_result(int(match.group(1)))
    if not port.done():
        port.set_exception(EOFError("rollbot serve exited"))


# --- the cluster ------------------------------------------------------------------------------


def tenant_tags(sim: SimHandle) -> dict[str, str]:
    """Namespace -> image tag of isp-ops-app, for every tenant."""
    tags: dict[str, str] = {}
    for deployment in sim.list("deployments"):
        meta = deployment["metadata"]
        if meta["name"] == DEPLOYMENT:
            image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            tags[meta["namespace"]] = image.rsplit(":", 1)[-1]
    return tags


def tenant_state(sim: SimHandle) -> dict[str, tuple[str, bool]]:
    """Namespace -> (image tag, rolled out): what `kubectl rollout status` would tell."""
    return {ns: (tag, sim.rolled_out(ns, DEPLOYMENT)) for ns, tag in tenant_tags(sim).items()}


class ClusterAtPost:
    """The tenants' state at the moment rollbot posted a message holding `contains`, read
    on the stand-in's thread while that post is being answered, so nothing can move on
    in between; `state` waits (bounded) until it has been taken."""

    def __init__(self, slack: SlackHandle, sim: SimHandle, contains: str) -> None:
        self._sim, self._contains = sim, contains
        self._state: dict[str, tuple[str, bool]] = {}
        self._taken = threading.Event()
        self._unsubscribe = slack.on_event(self._on_event)

    def _on_event(self, event: ChatEvent) -> None:
        message = event.message
        if message is None or event.kind != "message" or self._taken.is_set():
            return
        if self._contains in message.text:
            self._state = tenant_state(self._sim)
            self._taken.set()

    async def state(self, *, within: float) -> dict[str, tuple[str, bool]]:
        if not await asyncio.to_thread(self._taken.wait, within):
            raise AssertionError(f"no message holding {self._contains!r} was posted")
        self._unsubscribe()
        return self._state


def patches(sim: SimHandle) -> dict[str, int]:
    """PATCH requests per namespace since the sim started."""
    spaces = sim.counters()["namespaces"]
    return {ns: int(verbs.get("patch", 0)) for ns, verbs in spaces.items()}


# --- the channel ------------------------------------------------------------------------------


def posted(slack: SlackHandle, channel: str) -> list[str]:
    """What each post said when it was made (edits are not posts), replies included."""
    return [m.versions[0].text for m in slack.messages(channel, include_replies=True)]


def repeated(texts: list[str]) -> list[str]:
    return sorted({t for t in texts if texts.count(t) > 1})


def thread_link(parent: Message) -> str:
    """The part of a permalink that points at `parent`, as chat.getPermalink makes it."""
    return f"archives/{parent.channel}/p{parent.ts.replace('.', '')}"


def first_lines(messages: list[Message]) -> list[str]:
    return [m.text.split("\n", 1)[0] for m in messages]


def retry_after_ignored(calls: list[Call], *, retry_after: float) -> list[str]:
    """Posts and edits in a channel that came sooner than the Retry-After of the 429 that
    Slack gave the channel's call before them."""
    chat = [c for c in calls if c.method in CHANNEL_CALLS]
    broken: list[str] = []
    for i, refused in enumerate(chat):
        if refused.status != 429:
            continue
        channel = refused.args.get("channel")
        later = [c for c in chat[i + 1 :] if c.args.get("channel") == channel]
        if later and later[0].at - refused.at < retry_after:
            broken.append(f"{later[0].method} {later[0].at - refused.at:.3f}s after a 429")
    return broken
