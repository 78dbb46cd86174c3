"""What `rollbot demo` prints: the conversation in the Slack stand-in as it happens, with
short narration between the steps, as plain text a person reads top to bottom.

Messages arrive on the stand-in's thread and narration on the demo's, so every write goes
through one lock and whole groups of lines stay together. The parent message of a rollout
is edited many times; printing it whole each time would bury everything else, so an edit
shows only the lines that changed, under the message's first line.
"""

from __future__ import annotations

import re
import shutil
import textwrap
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TextIO

from sim.slack.records import BOT_USER_ID, ChatEvent, Ephemeral, Message
from sim.slack.transcript import content_lines

REPLY_MARK = "   ↳ "
HEAD_WIDTH = 60  # characters of a message's first line quoted above its edited lines
MIN_WIDTH, MAX_WIDTH = 80, 120  # lines are wrapped to the terminal, within these bounds
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_CODE = re.compile(r"`([^`\n]+)`")


def plain(line: str) -> str:
    """Slack's `*bold*` and `code` marks are noise in a terminal."""
    return _CODE.sub(r"\1", _BOLD.sub(r"\1", line))


def changed_lines(before: Sequence[str], after: Sequence[str]) -> tuple[list[str], list[str]]:
    """Lines new in `after`, and lines of `before` that are gone (order kept)."""
    old, new = set(before), set(after)
    return [line for line in after if line not in old], [line for line in before if line not in new]


def shorten(text: str, width: int = HEAD_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class Printer:
    """Thread-safe writer of the demo's output."""

    def __init__(
        self,
        out: TextIO,
        *,
        channel_names: Mapping[str, str],
        user_names: Mapping[str, str],
    ) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._channels = dict(channel_names)
        self._names = dict(user_names)
        self._chat_muted = False
        columns = shutil.get_terminal_size(fallback=(100, 24)).columns
        self.width = max(MIN_WIDTH, min(MAX_WIDTH, columns))

    # --- plain writing --------------------------------------------------------------------

    def lines(self, lines: Sequence[str]) -> None:
        with self._lock:
            self._out.write("".join(f"{line}\n" for line in lines))
            self._out.flush()

    def line(self, text: str = "") -> None:
        self.lines([text])

    def mute_chat(self) -> None:
        """Stop printing chat events: what happens while shutting down is not the demo."""
        with self._lock:
            self._chat_muted = True

    def heading(self, text: str) -> None:
        self.lines(["", text, "─" * min(len(text), 78)])

    def narrate(self, text: str) -> None:
        stamp = self._stamp()
        self.lines(self._wrap(f"{stamp} → {text}", " " * (len(stamp) + 3)))

    def note(self, text: str) -> None:
        stamp = self._stamp()
        self.lines(self._wrap(f"{stamp}   ({text})", " " * (len(stamp) + 4)))

    def wrapped(self, lines: Sequence[str], *, indent: str = "  ") -> None:
        """Plain lines, each wrapped to the terminal and indented."""
        self.lines([part for line in lines for part in self._wrap(indent + line, indent + "    ")])

    def who(self, user: str) -> str:
        """`alice (U0ALICE)`: the name people read and the ID the config uses."""
        name = self._names.get(user)
        return f"{name} ({user})" if name else user

    # --- chat events ----------------------------------------------------------------------

    def on_chat(self, event: ChatEvent) -> None:
        """A `SlackHandle.on_event` listener."""
        with self._lock:
            if self._chat_muted:
                return
        if event.ephemeral is not None:
            self.lines(self._ephemeral(event.channel, event.ephemeral))
        elif event.message is not None and event.kind == "message":
            self.lines(self._message(event.channel, event.message))
        elif event.message is not None and event.kind == "edit":
            edited = self._edit(event.channel, event.message)
            if edited:
                self.lines(edited)
        elif event.message is not None and event.kind == "delete":
            self.lines([f"{self._where(event.channel)} (a message was deleted)"])

    def _stamp(self) -> str:
        return f"[{time.monotonic() - self._started:5.1f}s]"

    def _where(self, channel: str) -> str:
        name = "#" + self._channels.get(channel, channel)
        width = 1 + max((len(n) for n in self._channels.values()), default=0)
        return f"{self._stamp()} {name.ljust(width)}  "

    def _author(self, user: str) -> str:
        return "rollbot" if user == BOT_USER_ID else self._names.get(user, user)

    def _body(self, msg: Message | Ephemeral) -> list[str]:
        attachments = msg.attachments if isinstance(msg, Message) else ()
        lines = content_lines(msg.text, msg.blocks, attachments=attachments, names=self._names)
        # A context element may hold several lines of its own.
        return [plain(part) for line in lines for part in line.split("\n") if part.strip()] or [""]

    def _stack(self, where: str, *, mark: str, head: str, body: Sequence[str]) -> list[str]:
        """One message: where and who on the first line, the rest indented under it, each
        line wrapped to the terminal with its continuation indented further."""
        pad = " " * (len(where) + len(mark) + 2)
        out = self._wrap(f"{where}{mark}{head}{body[0]}", pad + "  ")
        for line in body[1:]:
            out += self._wrap(pad + line, pad + "  ")
        return out

    def _wrap(self, line: str, indent: str) -> list[str]:
        if len(line) <= self.width:
            return [line]
        # The line's own indent is kept apart: textwrap would drop it when the first word
        # (a digest, a link) does not fit behind it.
        text = line.lstrip(" ")
        lead = line[: len(line) - len(text)]
        return textwrap.wrap(text, self.width, initial_indent=lead, subsequent_indent=indent,
                             break_on_hyphens=False, drop_whitespace=True) or [line]

    def _message(self, channel: str, msg: Message) -> list[str]:
        mark = REPLY_MARK if msg.is_reply else ""
        head = f"{self._author(msg.user)}: "
        return self._stack(self._where(channel), mark=mark, head=head, body=self._body(msg))

    def _edit(self, channel: str, msg: Message) -> list[str]:
        now = self._body(msg)
        before = msg.versions[-2] if len(msg.versions) > 1 else msg.versions[-1]
        was = [plain(x) for x in content_lines(before.text, before.blocks, names=self._names)]
        added, gone = changed_lines(was, now)
        shown = [line for line in added if line != now[0]]
        if not shown and gone:
            shown = [f"(removed: {' '.join(gone)})"]
        if not shown and now[0] in was:
            return []  # nothing a reader could tell apart
        mark = REPLY_MARK if msg.is_reply else ""
        head = f"✎ rollbot edited “{shorten(now[0])}”"
        return self._stack(self._where(channel), mark=mark, head=head, body=["", *shown])

    def _ephemeral(self, channel: str, eph: Ephemeral) -> list[str]:
        who = self._names.get(eph.user, eph.user)
        head = f"rollbot (only {who} sees this): "
        return self._stack(self._where(channel), mark="", head=head, body=self._body(eph))
