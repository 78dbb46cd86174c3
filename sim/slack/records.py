"""What the stand-in stores and hands out: messages with their edits, ephemerals, calls.

Frozen snapshots, so a test can hold one and compare it with a later one, and so the
workspace can give them to any thread without copying. Also the fixed identities of the
simulated team, app and bot user that every payload carries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

JsonDict = dict[str, Any]
EventKind = Literal["message", "edit", "delete", "ephemeral"]

BOT_USER_ID = "U0ROLLBOT"
BOT_ID = "B0ROLLBOT"
TEAM_ID = "T0SIM"
TEAM_DOMAIN = "rollbot-sim"
APP_ID = "A0ROLLBOT"
DEFAULT_CHANNELS = {"C0RELEASES": "releases", "C0STAKEHOLDERS": "stakeholders"}


@dataclass(frozen=True)
class Version:
    """One state of a message's content; the first is the original post."""

    text: str
    blocks: tuple[JsonDict, ...]
    at: float


@dataclass(frozen=True)
class Message:
    """A channel message (top-level or thread reply) as it stands now, with its history."""

    channel: str
    ts: str
    user: str
    versions: tuple[Version, ...]
    thread_ts: str | None = None
    reply_broadcast: bool = False
    bot_id: str | None = None
    attachments: tuple[JsonDict, ...] = ()
    deleted: bool = False
    metadata: JsonDict | None = None  # chat.postMessage's `metadata`: event_type, event_payload
    files: tuple[JsonDict, ...] = ()  # a file share's files, as Slack lists them on the message

    @property
    def text(self) -> str:
        return self.versions[-1].text

    @property
    def blocks(self) -> list[JsonDict]:
        return list(self.versions[-1].blocks)

    @property
    def posted_at(self) -> float:
        return self.versions[0].at

    @property
    def edited(self) -> bool:
        return len(self.versions) > 1

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_api(self, *, include_metadata: bool = False) -> JsonDict:
        """The message as Slack's Web API and interaction payloads show it; `metadata` only
        when asked for, as conversations.history does with `include_all_metadata`."""
        body: JsonDict = {"type": "message", "ts": self.ts, "user": self.user, "text": self.text}
        if self.bot_id:
            body["bot_id"] = self.bot_id
            body["app_id"] = APP_ID
            body["team"] = TEAM_ID
        if self.versions[-1].blocks:
            body["blocks"] = self.blocks
        if self.attachments:
            body["attachments"] = list(self.attachments)
        if self.files:
            body["files"] = list(self.files)
        if self.thread_ts:
            body["thread_ts"] = self.thread_ts
        if self.edited:
            body["edited"] = {"user": self.user, "ts": format_ts(self.versions[-1].at)}
        if include_metadata and self.metadata is not None:
            body["metadata"] = dict(self.metadata)
        return body


@dataclass(frozen=True)
class Ephemeral:
    """A message only one user sees; `source` says how it got there (api, response_url, ack)."""

    channel: str
    user: str
    text: str
    blocks: tuple[JsonDict, ...]
    ts: str
    at: float
    source: str = "api"
    thread_ts: str | None = None
    deleted: bool = False


@dataclass(frozen=True)
class Call:
    """One Web API (or response_url) request as the stand-in received it."""

    seq: int
    method: str
    args: JsonDict
    at: float
    status: int
    ok: bool
    error: str | None = None
    fault: str | None = None


@dataclass(frozen=True)
class ChatEvent:
    """What changed, for the streaming transcript: a new message, an edit, a deletion."""

    kind: EventKind
    channel: str
    message: Message | None = None
    ephemeral: Ephemeral | None = None


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    is_private: bool = False
    created: int = field(default_factory=lambda: int(time.time()))


Listener = Callable[[ChatEvent], None]


def format_ts(seconds: float) -> str:
    micros = round(seconds * 1_000_000)
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
