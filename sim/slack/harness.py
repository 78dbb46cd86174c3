"""`start_slack()`: the Slack stand-in on a background thread, driven from any thread.

Tests and `rollbot demo` run the bot on their own event loop; the stand-in gets a loop of
its own on a daemon thread so neither can stall the other. Every `SlackHandle` method is
thread-safe. Methods that wait for the bot come in two forms, made from one definition by
`twins`: a blocking one for plain code and an `*_async` one for coroutines (the driving
half lives in `handle_drive`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TypeVar

from sim.slack.faults import ArgsTest, FaultKind, FaultRule
from sim.slack.files import SlackFile
from sim.slack.handle_drive import DriveMixin
from sim.slack.records import Call, ChatEvent, Ephemeral, Message
from sim.slack.server import StandIn
from sim.slack.state import Workspace
from sim.slack.transcript import content_lines, render_channel, render_thread
from sim.slack.twins import wait_async, wait_blocking
from sim.slack.views import HomeView

T = TypeVar("T")
DEFAULT_SIGNING_SECRET = "sim-signing-secret"


class SlackHandle(DriveMixin):
    """A running stand-in: its URLs, its state, fault controls and ways to drive the bot."""

    def __init__(self, standin: StandIn, loop: asyncio.AbstractEventLoop, thread: threading.Thread):
        self._standin = standin
        self._loop = loop
        self._thread = thread
        self._closed = False

    # ---- addresses and secrets ---------------------------------------------------

    @property
    def api_url(self) -> str:
        """Give this to `WebClient(base_url=...)` / `SLACK_API_URL`; it ends with `/api/`."""
        return self._standin.api_url

    @property
    def base_url(self) -> str:
        return self._standin.base_url

    @property
    def port(self) -> int:
        return self._standin.port

    @property
    def bot_token(self) -> str:
        return self._standin.settings.bot_token

    @property
    def app_token(self) -> str:
        return self._standin.settings.app_token

    @property
    def signing_secret(self) -> str:
        return self._standin.signing_secret

    @property
    def workspace(self) -> Workspace:
        return self._standin.workspace

    # ---- state queries -----------------------------------------------------------

    def files(self) -> list[SlackFile]:
        """Every file asked an upload URL for, uploaded, or shared."""
        return self._standin.files.all()

    def home(self, user: str) -> HomeView | None:
        """The Home tab `user` sees now (the newest views.publish for them)."""
        return self._standin.views.home(user)

    def homes(self, user: str) -> list[HomeView]:
        """Every Home view published for `user`, oldest first."""
        return self._standin.views.history(user)

    def messages(self, channel: str, *, include_replies: bool = False) -> list[Message]:
        return self.workspace.messages(channel, include_replies=include_replies)

    def thread(self, channel: str, ts: str) -> list[Message]:
        return self.workspace.thread(channel, ts)

    def message(self, channel: str, ts: str) -> Message | None:
        return self.workspace.message(channel, ts)

    def ephemerals(self, user: str | None = None, *, channel: str | None = None) -> list[Ephemeral]:
        return self.workspace.ephemerals(user, channel=channel)

    def calls(self, method: str | None = None) -> list[Call]:
        return self.workspace.calls(method)

    def responses(self, url: str | None = None) -> list[Call]:
        """Posts to response_urls (all, or one URL's), recorded as `response_url` calls."""
        url_id = url.rstrip("/").rsplit("/", 1)[-1] if url else None
        return [c for c in self.calls("response_url") if url_id in (None, c.args.get("url_id"))]

    def post_times(self, channel: str) -> list[float]:
        return self.workspace.post_times(channel)

    def rate_violations(
        self, channel: str | None = None, *, min_interval: float = 1.0
    ) -> list[tuple[str, float, float]]:
        """Pairs of consecutive posts to one channel closer together than `min_interval`."""
        names = [channel] if channel else [c.id for c in self.workspace.channels()]
        found: list[tuple[str, float, float]] = []
        for name in names:
            times = self.workspace.post_times(name)
            found += [(name, a, b) for a, b in itertools.pairwise(times) if b - a < min_interval]
        return found

    def transcript(self, channel: str, *, thread_ts: str | None = None) -> str:
        names = self.workspace.user_names()
        if thread_ts is not None:
            return render_thread(self.thread(channel, thread_ts), names=names)
        return render_channel(self.messages(channel, include_replies=True), names=names)

    # ---- directory, limits and faults --------------------------------------------

    def add_channel(self, channel_id: str, name: str) -> None:
        self.workspace.add_channel(channel_id, name)

    def add_user(self, user_id: str, name: str) -> None:
        self.workspace.add_user(user_id, name)

    def set_usergroup(self, group_id: str, members: Sequence[str]) -> None:
        self.workspace.set_usergroup(group_id, members)

    def enforce_rate_limit(self, enabled: bool = True, *, retry_after: int = 1) -> None:
        """Answer 429 to a second chat.postMessage to one channel within a second."""
        self._standin.settings.enforce_rate_limit = enabled
        self._standin.settings.rate_limit_retry_after = retry_after

    def add_fault(
        self,
        method: str,
        kind: FaultKind | str = FaultKind.RATE_LIMITED,
        *,
        status: int = 503,
        error: str = "fatal_error",
        retry_after: int = 1,
        every_nth: int | None = None,
        first: int | None = None,
        probability: float | None = None,
        seed: int = 0,
        times: int | None = None,
        where: ArgsTest | None = None,
    ) -> FaultRule:
        """Fail calls to `method` (`*` = any, `response_url` = response URLs); see FaultRule.

        API_ERROR answers 200 with `{"ok": false, "error": error}`, as Slack refuses a call.
        """
        rule = FaultRule(
            method=method,
            kind=FaultKind(kind),
            status=status,
            error=error,
            retry_after=retry_after,
            every_nth=every_nth,
            first=first,
            probability=probability,
            seed=seed,
            times=times,
            where=where,
        )
        return self._standin.faults.add(rule)

    def clear_faults(self) -> None:
        self._standin.faults.clear()

    # ---- waiting and streaming ---------------------------------------------------

    def _wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Block until `predicate()` is truthy, re-checked on every change to the stand-in."""
        return self.workspace.wait_for(predicate, timeout)

    wait_for = wait_blocking(_wait_for)
    wait_for_async = wait_async(_wait_for)

    def _find_message(self, channel: str, contains: str, thread_ts: str | None) -> Message | None:
        for msg in reversed(self.messages(channel, include_replies=True)):
            if thread_ts is not None and msg.thread_ts != thread_ts:
                continue
            body = "\n".join(content_lines(msg.text, msg.blocks))
            if contains in body or contains in msg.text:
                return msg
        return None

    def _wait_for_message(
        self,
        channel: str,
        contains: str = "",
        *,
        thread_ts: str | None = None,
        timeout: float = 5.0,
    ) -> Message:
        """The newest message in `channel` (or a thread) whose text or blocks hold `contains`."""
        found = self._wait_for(lambda: self._find_message(channel, contains, thread_ts), timeout)
        assert found is not None  # wait_for only returns a truthy result
        return found

    wait_for_message = wait_blocking(_wait_for_message)
    wait_for_message_async = wait_async(_wait_for_message)

    def _wait_for_home(
        self, user: str, contains: str = "", *, after: int = 0, timeout: float = 5.0
    ) -> HomeView:
        """The first Home view published for `user` past the first `after` whose text holds
        `contains` (block texts and button labels)."""

        def find() -> HomeView | None:
            for home in self.homes(user)[after:]:
                if contains in "\n".join(content_lines("", home.blocks)):
                    return home
            return None

        found = self._wait_for(find, timeout)
        assert found is not None  # wait_for only returns a truthy result
        return found

    wait_for_home = wait_blocking(_wait_for_home)
    wait_for_home_async = wait_async(_wait_for_home)

    def on_event(self, callback: Callable[[ChatEvent], None]) -> Callable[[], None]:
        """Call `callback` (on the stand-in's thread) for each new message, edit, deletion or
        ephemeral; returns a function that unsubscribes."""
        return self.workspace.add_listener(callback)

    # ---- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        stopping = asyncio.run_coroutine_threadsafe(self._standin.stop(), self._loop)
        with contextlib.suppress(Exception):
            stopping.result(10.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)

    def __enter__(self) -> SlackHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _serve(
    loop: asyncio.AbstractEventLoop,
    standin: StandIn,
    port: int,
    ready: threading.Event,
    failures: list[BaseException],
) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(standin.start(port))
    except BaseException as exc:
        failures.append(exc)
        ready.set()
        loop.close()
        return
    ready.set()
    try:
        loop.run_forever()
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def start_slack(
    *,
    bot_token: str = "xoxb-test",
    app_token: str = "xapp-test",
    signing_secret: str = DEFAULT_SIGNING_SECRET,
    usergroups: Mapping[str, Sequence[str]] | None = None,
    channels: Mapping[str, str] | None = None,
    users: Mapping[str, str] | None = None,
    port: int = 0,
    enforce_rate_limit: bool = False,
    on_event: Callable[[ChatEvent], None] | None = None,
) -> SlackHandle:
    """Start the stand-in on 127.0.0.1 (a free port unless given) and return its handle.

    `channels` maps IDs to names (default: C0RELEASES=releases, C0STAKEHOLDERS=stakeholders);
    `usergroups` maps `S...` IDs to member user IDs; `users` maps user IDs to names (any
    other `U...` ID is accepted as a user named after it).
    """
    standin = StandIn(
        bot_token=bot_token,
        app_token=app_token,
        signing_secret=signing_secret,
        channels=channels,
        users=users,
        usergroups=usergroups,
    )
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failures: list[BaseException] = []
    thread = threading.Thread(
        target=_serve,
        args=(loop, standin, port, ready, failures),
        name="slack-stand-in",
        daemon=True,
    )
    thread.start()
    if not ready.wait(10.0):
        raise TimeoutError("the Slack stand-in did not start within 10s")
    if failures:
        raise RuntimeError("the Slack stand-in failed to start") from failures[0]
    handle = SlackHandle(standin, loop, thread)
    handle.enforce_rate_limit(enforce_rate_limit)
    if on_event is not None:
        handle.on_event(on_event)
    return handle
