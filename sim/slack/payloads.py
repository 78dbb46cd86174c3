"""Slack's exact request payloads for slash commands, button clicks and the Home tab.

The same dicts feed both delivery paths: HTTP mode form-encodes a slash command and wraps a
block_actions payload in `payload=<json>`; Socket Mode puts either dict inside an envelope.
Field names and nesting follow what Slack sends, so Bolt's parsing is exercised for real.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sim.slack.records import APP_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, JsonDict

VERIFICATION_TOKEN = "sim-verification-token"


def trigger_id() -> str:
    return f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def slash_command_form(
    *,
    command: str,
    text: str,
    user_id: str,
    user_name: str,
    channel_id: str,
    channel_name: str,
    response_url: str,
) -> dict[str, str]:
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id(),
    }


def find_action(message: JsonDict, action_id: str) -> tuple[str, JsonDict] | None:
    """The block_id and element of the interactive element `action_id` in a message."""
    for block in message.get("blocks", []):
        elements = list(block.get("elements", []))
        if "accessory" in block:
            elements.append(block["accessory"])
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return str(block.get("block_id", "")), element
    return None


def _action(action_id: str, value: str | None, found: tuple[str, JsonDict] | None) -> JsonDict:
    block_id, element = found if found is not None else ("sim-block", {})
    label = element.get("text", {"type": "plain_text", "text": action_id, "emoji": True})
    action: JsonDict = {
        "action_id": action_id,
        "block_id": block_id,
        "text": label,
        "type": element.get("type", "button"),
        "action_ts": f"{time.time():.6f}",
    }
    chosen = value if value is not None else element.get("value")
    if chosen is not None:
        action["value"] = chosen
    if "style" in element:
        action["style"] = element["style"]
    return action


def block_actions_payload(
    *,
    action_id: str,
    value: str | None,
    user_id: str,
    user_name: str,
    channel_id: str,
    channel_name: str,
    message: JsonDict | None,
    message_ts: str,
    response_url: str,
) -> JsonDict:
    """A `block_actions` payload for a click on `action_id` in the given message.

    When `value` is None the button's own value is taken from the message, as Slack does.
    """
    found = find_action(message, action_id) if message else None
    container: JsonDict = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    shown: dict[str, Any] = message or {"type": "message", "ts": message_ts, "text": ""}
    if shown.get("thread_ts"):
        container["thread_ts"] = shown["thread_ts"]
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id(),
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": shown,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [_action(action_id, value, found)],
    }


def view_actions_payload(
    *, action_id: str, value: str | None, user_id: str, user_name: str, view: JsonDict
) -> JsonDict:
    """A click on a button of a Home tab: the `view` stands where a message would, the
    container says so, and there is no channel, message or response_url, as in Slack."""
    found = find_action(view, action_id)
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": view.get("id", "")},
        "trigger_id": trigger_id(),
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view,
        "actions": [_action(action_id, value, found)],
    }


def app_home_opened_event(*, user_id: str, view: JsonDict | None) -> JsonDict:
    """The Events API's `event_callback` for a user opening the app's Home tab; `view` is
    the one published for them before, when there is one."""
    event: JsonDict = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D" + user_id[1:],
        "tab": "home",
        "event_ts": f"{time.time():.6f}",
    }
    if view is not None:
        event["view"] = view
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + secrets.token_hex(6).upper(),
        "event_time": int(time.time()),
        "authorizations": [
            {"enterprise_id": None, "team_id": TEAM_ID, "user_id": BOT_USER_ID,
             "is_bot": True, "is_enterprise_install": False}
        ],
        "is_ext_shared_channel": False,
    }  # fmt: skip
