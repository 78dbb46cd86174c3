"""The Web API methods rollbot uses, each answering as slack.com does (body and error codes).

Kept apart from the HTTP plumbing in `web_api` so each method reads as a small function
of its arguments and the workspace. Arguments arrive as strings when form-encoded and as
JSON values otherwise; the helpers here accept both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.slack.blocks import MAX_MESSAGE_TEXT, validate_blocks
from sim.slack.files import FileStore
from sim.slack.records import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    JsonDict,
    Message,
)
from sim.slack.state import Workspace
from sim.slack.views import HomeViews, ViewRefused


class ApiError(Exception):
    """An `ok: false` answer; `extra` is merged into the body (e.g. response_metadata)."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class ApiContext:
    """What a method needs beyond its arguments."""

    workspace: Workspace
    base_url: str
    open_socket_url: Callable[[], str]
    files: FileStore = field(default_factory=FileStore)
    views: HomeViews = field(default_factory=HomeViews)


Method = Callable[[ApiContext, JsonDict], JsonDict]


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def _json_arg(args: JsonDict, key: str, *, shape: type) -> Any:
    """An argument that may arrive as JSON text (form-encoded) or already decoded; None when
    absent or empty. Text that does not decode to a `shape` is `invalid_{key}_format`."""
    value = args.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ApiError(f"invalid_{key}_format") from exc
    if not isinstance(value, shape):
        raise ApiError(f"invalid_{key}_format")
    return value


def _json_list(args: JsonDict, key: str) -> list[JsonDict] | None:
    """A list argument that may arrive as a JSON string (form-encoded) or a JSON array."""
    found: list[JsonDict] | None = _json_arg(args, key, shape=list)
    return found


def _required(args: JsonDict, key: str, error: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(error)
    return value


def _channel(ctx: ApiContext, args: JsonDict, *, key: str = "channel") -> str:
    ref = _required(args, key, "channel_not_found")
    channel = ctx.workspace.resolve_channel(ref)
    if channel is None:
        raise ApiError("channel_not_found")
    return channel


def message_content(args: JsonDict, *, required: bool) -> tuple[str | None, list[JsonDict] | None]:
    """Text and blocks after Slack's checks: block limits first, then text length."""
    blocks = _json_list(args, "blocks")
    if blocks is not None:
        problems = validate_blocks(blocks)
        if problems:
            raise ApiError("invalid_blocks", response_metadata={"messages": problems})
    text = args.get("text")
    if text is not None and not isinstance(text, str):
        text = str(text)
    if required and not text and not blocks and not _json_list(args, "attachments"):
        raise ApiError("no_text")
    if text is not None and len(text) > MAX_MESSAGE_TEXT:
        raise ApiError("msg_too_long")
    return text, blocks


def _thread_parent(ctx: ApiContext, channel: str, thread_ts: Any) -> str | None:
    if thread_ts in (None, ""):
        return None
    parent = ctx.workspace.message(channel, str(thread_ts))
    if parent is None:
        raise ApiError("thread_not_found")
    # Replying to a reply lands in the same thread, as in Slack.
    return parent.thread_ts or parent.ts


def auth_test(ctx: ApiContext, args: JsonDict) -> JsonDict:
    return {
        "url": f"https://{TEAM_DOMAIN}.slack.com/",
        "team": "Rollbot Sim",
        "user": "rollbot",
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "is_enterprise_install": False,
    }


def message_metadata(args: JsonDict) -> JsonDict | None:
    """`metadata`: an object (or its JSON) with a string event_type and an object payload."""
    value = _json_arg(args, "metadata", shape=dict)
    if value is None:
        return None
    if not isinstance(value.get("event_type"), str) or not isinstance(
        value.get("event_payload", {}), dict
    ):
        raise ApiError("invalid_metadata_format")
    return {"event_type": value["event_type"], "event_payload": value.get("event_payload", {})}


def chat_post_message(ctx: ApiContext, args: JsonDict) -> JsonDict:
    channel = _channel(ctx, args)
    text, blocks = message_content(args, required=True)
    metadata = message_metadata(args)
    thread_ts = _thread_parent(ctx, channel, args.get("thread_ts"))
    msg = ctx.workspace.post_message(
        channel,
        text=text or "",
        blocks=blocks or (),
        attachments=_json_list(args, "attachments") or (),
        thread_ts=thread_ts,
        reply_broadcast=thread_ts is not None and _flag(args.get("reply_broadcast")),
        metadata=metadata,
    )
    return {"channel": channel, "ts": msg.ts, "message": msg.to_api(include_metadata=True)}


def chat_update(ctx: ApiContext, args: JsonDict) -> JsonDict:
    channel = _channel(ctx, args)
    ts = _required(args, "ts", "message_not_found")
    text, blocks = message_content(args, required=False)
    existing = ctx.workspace.message(channel, ts)
    if existing is None or existing.deleted:
        raise ApiError("message_not_found")
    if existing.user != BOT_USER_ID:
        raise ApiError("cant_update_message")
    msg = ctx.workspace.update_message(channel, ts, text=text, blocks=blocks)
    if msg is None:
        raise ApiError("message_not_found")
    return {"channel": channel, "ts": ts, "text": msg.text, "message": msg.to_api()}


def chat_delete(ctx: ApiContext, args: JsonDict) -> JsonDict:
    channel = _channel(ctx, args)
    ts = _required(args, "ts", "message_not_found")
    if ctx.workspace.delete_message(channel, ts) is None:
        raise ApiError("message_not_found")
    return {"channel": channel, "ts": ts}


def chat_post_ephemeral(ctx: ApiContext, args: JsonDict) -> JsonDict:
    channel = _channel(ctx, args)
    user = _required(args, "user", "user_not_found")
    if ctx.workspace.user_name(user) is None:
        raise ApiError("user_not_found")
    text, blocks = message_content(args, required=True)
    thread_ts = args.get("thread_ts") or None
    eph = ctx.workspace.post_ephemeral(
        channel, user=user, text=text or "", blocks=blocks or (), thread_ts=thread_ts
    )
    return {"message_ts": eph.ts}


def permalink(base_url: str, msg: Message) -> str:
    link = f"{base_url}archives/{msg.channel}/p{msg.ts.replace('.', '')}"
    if msg.is_reply:
        link += f"?thread_ts={msg.thread_ts}&cid={msg.channel}"
    return link


def chat_get_permalink(ctx: ApiContext, args: JsonDict) -> JsonDict:
    channel = _channel(ctx, args)
    ts = _required(args, "message_ts", "message_not_found")
    msg = ctx.workspace.message(channel, ts)
    if msg is None or msg.deleted:
        raise ApiError("message_not_found")
    return {"channel": channel, "permalink": permalink(ctx.base_url, msg)}


def conversations_info(ctx: ApiContext, args: JsonDict) -> JsonDict:
    channel_id = _channel(ctx, args)
    chan = ctx.workspace.channel(channel_id)
    if chan is None:
        raise ApiError("channel_not_found")
    return {
        "channel": {
            "id": chan.id,
            "name": chan.name,
            "is_channel": not chan.is_private,
            "is_group": False,
            "is_im": chan.id.startswith("D"),
            "is_private": chan.is_private,
            "is_archived": False,
            "is_member": True,
            "created": chan.created,
            "creator": BOT_USER_ID,
        }
    }


def _page(args: JsonDict, found: list[Message], *, newest_first: bool) -> JsonDict:
    """One page of messages between `oldest` and `latest`, Slack's cursor being an offset."""
    oldest = float(args.get("oldest") or 0)
    latest = float(args.get("latest") or "inf")
    inclusive = _flag(args.get("inclusive"))
    kept = [
        m
        for m in found
        if (oldest <= float(m.ts) <= latest if inclusive else oldest < float(m.ts) < latest)
    ]
    if newest_first:
        kept.reverse()
    try:
        start = int(args.get("cursor") or 0)
        limit = max(1, min(int(args.get("limit") or 100), 1000))
    except ValueError as exc:
        raise ApiError("invalid_cursor") from exc
    page = kept[start : start + limit]
    more = start + limit < len(kept)
    metadata = _flag(args.get("include_all_metadata"))
    return {
        "messages": [m.to_api(include_metadata=metadata) for m in page],
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }


def conversations_history(ctx: ApiContext, args: JsonDict) -> JsonDict:
    """Top-level messages (and broadcast replies), newest first."""
    channel = _channel(ctx, args)
    found = ctx.workspace.messages(channel)
    return {"pin_count": 0, **_page(args, found, newest_first=True)}


def conversations_replies(ctx: ApiContext, args: JsonDict) -> JsonDict:
    """A thread: its parent first, then the replies, oldest first."""
    channel = _channel(ctx, args)
    ts = _required(args, "ts", "thread_not_found")
    found = ctx.workspace.thread(channel, ts)
    if not found or found[0].deleted:
        raise ApiError("thread_not_found")
    return _page(args, found, newest_first=False)


def users_info(ctx: ApiContext, args: JsonDict) -> JsonDict:
    user_id = _required(args, "user", "user_not_found")
    name = ctx.workspace.user_name(user_id)
    if name is None:
        raise ApiError("user_not_found")
    is_bot = user_id == BOT_USER_ID
    return {
        "user": {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": name,
            "deleted": False,
            "is_bot": is_bot,
            "is_admin": False,
            "tz": "UTC",
            "tz_offset": 0,
            "updated": int(time.time()),
            "profile": {"display_name": name, "real_name": name, "team": TEAM_ID},
        }
    }


def usergroups_users_list(ctx: ApiContext, args: JsonDict) -> JsonDict:
    group = _required(args, "usergroup", "no_such_subteam")
    members = ctx.workspace.usergroup(group)
    if members is None:
        raise ApiError("no_such_subteam")
    return {"users": members}


def apps_connections_open(ctx: ApiContext, args: JsonDict) -> JsonDict:
    return {"url": ctx.open_socket_url()}


def files_get_upload_url_external(ctx: ApiContext, args: JsonDict) -> JsonDict:
    name = args.get("filename")
    length = str(args.get("length", ""))
    if not isinstance(name, str) or not name or not length.isdigit() or int(length) < 1:
        raise ApiError("invalid_arguments")
    announced = ctx.files.announce(name, int(length))
    return {"upload_url": f"{ctx.base_url}upload/{announced.id}", "file_id": announced.id}


def files_complete_upload_external(ctx: ApiContext, args: JsonDict) -> JsonDict:
    """Share uploaded files; with `channel_id`, one message shows them (in the thread)."""
    wanted = _json_list(args, "files")
    if not wanted or not all(isinstance(f, dict) and f.get("id") for f in wanted):
        raise ApiError("invalid_arguments")
    found = [ctx.files.get(str(f["id"])) for f in wanted]
    uploaded = [f for f in found if f is not None and f.content is not None and not f.completed]
    if len(uploaded) != len(wanted):
        raise ApiError("file_not_found")
    titles = [str(w.get("title") or f.name) for w, f in zip(wanted, uploaded, strict=True)]
    channel = _channel(ctx, args, key="channel_id") if args.get("channel_id") else None
    thread_ts = _thread_parent(ctx, channel, args.get("thread_ts")) if channel else None
    for stored, title in zip(uploaded, titles, strict=True):
        stored.title, stored.completed = title, True
        stored.channel, stored.thread_ts = channel, thread_ts
    if channel is not None:
        # The share is a message of its own that lists the files, as Slack shows it.
        text = args.get("initial_comment") or f"Shared a file: {', '.join(titles)}"
        shared = ctx.workspace.post_message(channel, text=str(text), blocks=(),
                                            thread_ts=thread_ts,
                                            files=[f.to_api() for f in uploaded])
        for stored in uploaded:
            stored.shared_ts = shared.ts
    return {"files": [f.to_api() for f in uploaded]}


def views_publish(ctx: ApiContext, args: JsonDict) -> JsonDict:
    """A user's Home tab, replaced whole; waiters are woken like for a message."""
    user = _required(args, "user_id", "invalid_arguments")
    if ctx.workspace.user_name(user) is None:
        raise ApiError("user_not_found")
    view = _json_arg(args, "view", shape=dict)
    try:
        home = ctx.views.publish(user, view)
    except ViewRefused as refused:
        raise ApiError(refused.error, response_metadata={"messages": refused.messages}) from None
    ctx.workspace.notify()
    return {"view": home.to_api()}


METHODS: dict[str, Method] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "conversations.info": conversations_info,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "users.info": users_info,
    "usergroups.users.list": usergroups_users_list,
    "apps.connections.open": apps_connections_open,
    "files.getUploadURLExternal": files_get_upload_url_external,
    "files.completeUploadExternal": files_complete_upload_external,
    "views.publish": views_publish,
}

# Methods that need the app-level token; every other method needs the bot token.
APP_TOKEN_METHODS = {"apps.connections.open"}
