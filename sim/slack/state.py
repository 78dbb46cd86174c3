"""The stand-in's memory: channels, messages, threads, edits, ephemerals and recorded calls.

Everything the fake Slack knows lives in one `Workspace` behind one condition variable, so
the aiohttp handlers (on the stand-in's own loop) and test code (on any thread) see a
single consistent picture, and tests can block on `wait_for` until the bot has done
something instead of sleeping. Snapshots handed out are frozen: a test can keep one and
compare it with a later one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from sim.slack.records import (
    BOT_ID,
    BOT_USER_ID,
    DEFAULT_CHANNELS,
    Call,
    Channel,
    ChatEvent,
    Ephemeral,
    EventKind,
    JsonDict,
    Listener,
    Message,
    Version,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class Workspace:
    """All of the stand-in's state; every public method is thread-safe."""

    def __init__(
        self,
        *,
        channels: Mapping[str, str] | None = None,
        users: Mapping[str, str] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        # An RLock-backed condition, so wait_for predicates may call the query methods.
        self._cond = threading.Condition(threading.RLock())
        chans = DEFAULT_CHANNELS if channels is None else channels
        self._channels = {cid: Channel(cid, name) for cid, name in chans.items()}
        self._users = dict(users or {})
        self._usergroups = {gid: list(members) for gid, members in (usergroups or {}).items()}
        self._messages: dict[str, dict[str, Message]] = {cid: {} for cid in self._channels}
        self._ephemerals: list[Ephemeral] = []
        self._calls: list[Call] = []
        self._post_times: dict[str, list[float]] = {}
        self._listeners: list[Listener] = []
        self._last_ts_micros = 0
        self._version = 0

    # ---- directory ---------------------------------------------------------------

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False) -> None:
        with self._cond:
            self._channels[channel_id] = Channel(channel_id, name, is_private)
            self._messages.setdefault(channel_id, {})
            self._touch()

    def add_user(self, user_id: str, name: str) -> None:
        with self._cond:
            self._users[user_id] = name
            self._touch()

    def set_usergroup(self, group_id: str, members: Sequence[str]) -> None:
        with self._cond:
            self._usergroups[group_id] = list(members)
            self._touch()

    def channels(self) -> list[Channel]:
        with self._cond:
            return list(self._channels.values())

    def channel(self, channel_id: str) -> Channel | None:
        with self._cond:
            return self._channels.get(channel_id)

    def resolve_channel(self, ref: str) -> str | None:
        """Channel ID for an ID, a `#name`/`name`, or a user ID (its DM), like Slack accepts."""
        with self._cond:
            if ref in self._channels:
                return ref
            name = ref.removeprefix("#")
            for chan in self._channels.values():
                if chan.name == name:
                    return chan.id
            if ref[:1] in ("U", "W") and self.user_name(ref) is not None:
                dm_id = "D" + ref[1:]
                if dm_id not in self._channels:
                    self.add_channel(dm_id, f"dm-{ref}", is_private=True)
                return dm_id
            return None

    def user_name(self, user_id: str) -> str | None:
        """Known users by name; any other `U`/`W` ID is a plausible user named after its ID."""
        with self._cond:
            if user_id in self._users:
                return self._users[user_id]
            if user_id == BOT_USER_ID:
                return "rollbot"
            if user_id[:1] in ("U", "W") and user_id[1:].isalnum():
                return user_id.lower()
            return None

    def user_names(self) -> dict[str, str]:
        """Configured users by ID, for rendering mentions."""
        with self._cond:
            return dict(self._users)

    def usergroup(self, group_id: str) -> list[str] | None:
        with self._cond:
            members = self._usergroups.get(group_id)
            return None if members is None else list(members)

    # ---- messages ----------------------------------------------------------------

    def next_ts(self) -> str:
        """Slack-shaped `seconds.micros` timestamps, strictly increasing across the workspace."""
        with self._cond:
            micros = max(round(time.time() * 1_000_000), self._last_ts_micros + 1)
            self._last_ts_micros = micros
            return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def post_message(
        self,
        channel: str,
        *,
        text: str,
        blocks: Sequence[JsonDict] = (),
        attachments: Sequence[JsonDict] = (),
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        user: str = BOT_USER_ID,
        metadata: JsonDict | None = None,
        files: Sequence[JsonDict] = (),
    ) -> Message:
        with self._cond:
            now = time.time()
            ts = self.next_ts()
            bot_id = BOT_ID if user == BOT_USER_ID else None
            msg = Message(
                channel=channel,
                ts=ts,
                user=user,
                versions=(Version(text, tuple(blocks), now),),
                thread_ts=thread_ts,
                reply_broadcast=reply_broadcast,
                bot_id=bot_id,
                attachments=tuple(attachments),
                metadata=metadata,
                files=tuple(files),
            )
            self._messages.setdefault(channel, {})[ts] = msg
            self._post_times.setdefault(channel, []).append(now)
            self._touch()
        self._emit(ChatEvent("message", channel, message=msg))
        return msg

    def update_message(
        self,
        channel: str,
        ts: str,
        *,
        text: str | None = None,
        blocks: Sequence[JsonDict] | None = None,
    ) -> Message | None:
        """A new version; omitted text or blocks are kept, as chat.update does."""

        def edit(old: Message) -> Message:
            last = old.versions[-1]
            version = Version(
                last.text if text is None else text,
                last.blocks if blocks is None else tuple(blocks),
                time.time(),
            )
            return replace(old, versions=(*old.versions, version))

        return self._revise(channel, ts, "edit", edit)

    def delete_message(self, channel: str, ts: str) -> Message | None:
        return self._revise(channel, ts, "delete", lambda old: replace(old, deleted=True))

    def _revise(
        self, channel: str, ts: str, kind: EventKind, change: Callable[[Message], Message]
    ) -> Message | None:
        """Swap a live message for `change(message)` and tell listeners; None if it is gone."""
        with self._cond:
            old = self._messages.get(channel, {}).get(ts)
            if old is None or old.deleted:
                return None
            msg = change(old)
            self._messages[channel][ts] = msg
            self._touch()
        self._emit(ChatEvent(kind, channel, message=msg))
        return msg

    def message(self, channel: str, ts: str) -> Message | None:
        with self._cond:
            return self._messages.get(channel, {}).get(ts)

    def messages(
        self, channel: str, *, include_replies: bool = False, include_deleted: bool = False
    ) -> list[Message]:
        """Messages in post order; thread replies only when asked (or broadcast)."""
        with self._cond:
            found = list(self._messages.get(channel, {}).values())
        return [
            m
            for m in found
            if (include_replies or not m.is_reply or m.reply_broadcast)
            and (include_deleted or not m.deleted)
        ]

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The parent followed by its replies, oldest first; empty if there is no such parent."""
        with self._cond:
            chan = self._messages.get(channel, {})
            parent = chan.get(ts)
            if parent is None:
                return []
            replies = [m for m in chan.values() if m.is_reply and m.thread_ts == ts]
        return [parent, *(m for m in replies if not m.deleted)]

    def post_times(self, channel: str) -> list[float]:
        with self._cond:
            return list(self._post_times.get(channel, []))

    def posts_in_last(self, channel: str, seconds: float, *, now: float) -> int:
        with self._cond:
            return sum(1 for t in self._post_times.get(channel, []) if now - t < seconds)

    # ---- ephemerals --------------------------------------------------------------

    def post_ephemeral(
        self,
        channel: str,
        *,
        user: str,
        text: str,
        blocks: Sequence[JsonDict] = (),
        thread_ts: str | None = None,
        source: str = "api",
    ) -> Ephemeral:
        with self._cond:
            eph = Ephemeral(
                channel=channel,
                user=user,
                text=text,
                blocks=tuple(blocks),
                ts=self.next_ts(),
                at=time.time(),
                source=source,
                thread_ts=thread_ts,
            )
            self._ephemerals.append(eph)
            self._touch()
        self._emit(ChatEvent("ephemeral", channel, ephemeral=eph))
        return eph

    def replace_ephemeral(
        self, ts: str, *, text: str | None, blocks: Sequence[JsonDict] | None, delete: bool = False
    ) -> Ephemeral | None:
        with self._cond:
            for i, old in enumerate(self._ephemerals):
                if old.ts == ts and not old.deleted:
                    new = replace(
                        old,
                        text=old.text if text is None else text,
                        blocks=old.blocks if blocks is None else tuple(blocks),
                        deleted=delete,
                        at=time.time(),
                    )
                    self._ephemerals[i] = new
                    self._touch()
                    break
            else:
                return None
        self._emit(ChatEvent("ephemeral", new.channel, ephemeral=new))
        return new

    def ephemerals(self, user: str | None = None, *, channel: str | None = None) -> list[Ephemeral]:
        with self._cond:
            return [
                e
                for e in self._ephemerals
                if (user is None or e.user == user)
                and (channel is None or e.channel == channel)
                and not e.deleted
            ]

    # ---- calls -------------------------------------------------------------------

    def record_call(
        self,
        method: str,
        args: JsonDict,
        *,
        status: int,
        error: str | None = None,
        fault: str | None = None,
    ) -> Call:
        with self._cond:
            call = Call(
                seq=len(self._calls) + 1,
                method=method,
                args=dict(args),
                at=time.time(),
                status=status,
                ok=status == 200 and error is None,
                error=error,
                fault=fault,
            )
            self._calls.append(call)
            self._touch()
        return call

    def calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    # ---- waiting and listening ---------------------------------------------------

    def wait_for(self, predicate: Callable[[], T], timeout: float) -> T:
        """Block until `predicate()` is truthy (re-checked on every change) or time runs out."""
        with self._cond:
            result = self._cond.wait_for(predicate, timeout)
        if not result:
            raise TimeoutError(f"condition not met within {timeout:.1f}s")
        return result

    def notify(self) -> None:
        """Wake waiters after a change made outside this class (acks, connections)."""
        with self._cond:
            self._touch()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        with self._cond:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._cond:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _touch(self) -> None:
        self._version += 1
        self._cond.notify_all()

    def _emit(self, event: ChatEvent) -> None:
        # Listeners run outside the lock so a slow printer never stalls the API.
        with self._cond:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("slack stand-in listener failed on %s", event.kind)
