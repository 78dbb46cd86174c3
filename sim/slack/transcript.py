"""The conversation as readable plain text, for `rollbot demo`, test assertions and debugging.

Block Kit is flattened the way a person would read the message: sections and fields as
text, context lines joined, buttons as `[Approve] [Reject]`, Slack's link and mention
markup turned back into words (`*bold*` stays). Each message shows its latest edit, and
thread replies sit indented under their parent. `stream_printer` gives the same rendering
one event at a time, as the stand-in sees new messages and edits.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sim.slack.records import BOT_USER_ID, ChatEvent, Ephemeral, JsonDict, Message

REPLY_INDENT = "    "
_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def mrkdwn_to_text(text: str, *, names: Mapping[str, str] | None = None) -> str:
    """Slack markup to words: `<url|label>` -> `label (url)`, `<@U1>` -> `@name`, etc."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            user = target[1:]
            return "@" + (label or (names or {}).get(user, user))
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!subteam^"):
            return label or "@" + target.removeprefix("!subteam^")
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return f"{label} ({target})" if label else target

    return html.unescape(_LINK.sub(link, text))


def _text(obj: Any, names: Mapping[str, str] | None) -> str:
    if isinstance(obj, dict):
        raw = str(obj.get("text", ""))
        return mrkdwn_to_text(raw, names=names) if obj.get("type") == "mrkdwn" else raw
    return ""


def _element(element: JsonDict, names: Mapping[str, str] | None) -> str:
    kind = element.get("type")
    if kind == "button":
        return f"[{_text(element.get('text'), names)}]"
    if kind in ("static_select", "users_select", "conversations_select", "external_select"):
        return f"[{_text(element.get('placeholder'), names) or 'choose'} v]"
    if kind == "overflow":
        return "[...]"
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind in ("mrkdwn", "plain_text"):
        return _text(element, names)
    return f"[{kind}]"


def _rich_text(node: Any) -> str:
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text", ""))
        if node.get("type") == "user":
            return "@" + str(node.get("user_id", ""))
        if node.get("type") == "link":
            return str(node.get("text") or node.get("url", ""))
        return "".join(_rich_text(child) for child in node.get("elements", []))
    return ""


def block_lines(block: JsonDict, *, names: Mapping[str, str] | None = None) -> list[str]:
    """One Block Kit block as the lines a reader would see."""
    kind = block.get("type")
    lines: list[str] = []
    if kind in ("section", "header"):
        lines = _text(block.get("text"), names).splitlines()
        fields = [_text(f, names).replace("\n", " ") for f in block.get("fields", [])]
        if fields:
            lines.append(" | ".join(fields))
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            widget = _element(accessory, names)
            lines = [*lines[:-1], f"{lines[-1]} {widget}"] if lines else [widget]
    elif kind == "context":
        lines = [" | ".join(_element(e, names) for e in block.get("elements", []))]
    elif kind == "actions":
        lines = [" ".join(_element(e, names) for e in block.get("elements", []))]
    elif kind == "divider":
        lines = ["----"]
    elif kind == "image":
        lines = [f"[image: {block.get('alt_text', '')}]"]
    elif kind == "rich_text":
        lines = _rich_text(block).splitlines()
    elif kind == "markdown":
        lines = str(block.get("text", "")).splitlines()
    elif kind == "input":
        lines = [f"{_text(block.get('label'), names)}: [input]"]
    return lines


def content_lines(
    text: str,
    blocks: Sequence[JsonDict],
    *,
    attachments: Sequence[JsonDict] = (),
    names: Mapping[str, str] | None = None,
) -> list[str]:
    """A message body: its blocks when it has any, else its text (the notification fallback)."""
    if blocks:
        lines = [line for block in blocks for line in block_lines(block, names=names)]
    else:
        lines = mrkdwn_to_text(text, names=names).splitlines()
    for attachment in attachments:
        body = attachment.get("text") or attachment.get("fallback") or ""
        lines.extend("| " + line for line in mrkdwn_to_text(str(body), names=names).splitlines())
    return lines or [""]


def _author(user: str, names: Mapping[str, str] | None) -> str:
    if user == BOT_USER_ID:
        return "rollbot"
    return (names or {}).get(user, user)


def _stack(head: str, lines: Sequence[str], indent: str) -> list[str]:
    pad = indent + " " * len(head)
    return [indent + head + lines[0], *(pad + line for line in lines[1:])]


def message_lines(
    msg: Message, *, indent: str = "", names: Mapping[str, str] | None = None
) -> list[str]:
    """One message (latest edit) with its author; continuation lines align under the text."""
    if msg.deleted:
        return [indent + "(message deleted)"]
    lines = content_lines(msg.text, msg.blocks, attachments=msg.attachments, names=names)
    if msg.edited:
        lines = [lines[0] + " (edited)", *lines[1:]]
    return _stack(f"{_author(msg.user, names)}: ", lines, indent)


def render_thread(messages: Sequence[Message], *, names: Mapping[str, str] | None = None) -> str:
    """A parent followed by its replies (as `Workspace.thread` returns them)."""
    if not messages:
        return ""
    out = message_lines(messages[0], names=names)
    for reply in messages[1:]:
        out.extend(message_lines(reply, indent=REPLY_INDENT, names=names))
    return "\n".join(out) + "\n"


def render_channel(messages: Sequence[Message], *, names: Mapping[str, str] | None = None) -> str:
    """A whole channel: top-level messages in order, each followed by its indented replies.

    Pass every message including replies (`Workspace.messages(c, include_replies=True)`).
    """
    replies: dict[str, list[Message]] = {}
    for msg in messages:
        if msg.is_reply and msg.thread_ts is not None:
            replies.setdefault(msg.thread_ts, []).append(msg)
    out: list[str] = []
    for msg in messages:
        if msg.is_reply and not msg.reply_broadcast:
            continue
        if msg.is_reply:
            # A broadcast reply also shows in the channel, as Slack shows it.
            lines = message_lines(msg, names=names)
            out.extend([lines[0] + " (thread reply)", *lines[1:]])
            continue
        out.extend(message_lines(msg, names=names))
        for reply in replies.get(msg.ts, []):
            out.extend(message_lines(reply, indent=REPLY_INDENT, names=names))
    return "\n".join(out) + ("\n" if out else "")


def _ephemeral_lines(eph: Ephemeral, names: Mapping[str, str] | None) -> list[str]:
    lines = content_lines(eph.text, eph.blocks, names=names)
    who = (names or {}).get(eph.user, eph.user)
    return _stack(f"rollbot (only {who} sees this): ", lines, "")


def render_event(
    event: ChatEvent,
    *,
    channel_names: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
) -> str:
    """One streaming line-group: `#channel` tag, then the message as the transcript shows it."""
    tag = "#" + (channel_names or {}).get(event.channel, event.channel)
    clock = time.strftime("%H:%M:%S")
    if event.ephemeral is not None:
        body = _ephemeral_lines(event.ephemeral, names)
    elif event.message is not None:
        msg = event.message
        indent = REPLY_INDENT if msg.is_reply else ""
        body = message_lines(msg, indent=indent, names=names)
        if event.kind == "edit":
            body = [f"{indent}~ edited {msg.ts}:", *body]
    else:
        return ""
    return "\n".join(f"{clock} {tag} {line}" for line in body)


def stream_printer(
    write: Callable[[str], None] = print,
    *,
    channel_names: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
    ephemerals: bool = True,
) -> Callable[[ChatEvent], None]:
    """A listener for `SlackHandle.on_event` that writes each change as it happens."""

    def on_event(event: ChatEvent) -> None:
        if event.ephemeral is not None and not ephemerals:
            return
        rendered = render_event(event, channel_names=channel_names, names=names)
        if rendered:
            write(rendered)

    return on_event
