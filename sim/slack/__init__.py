"""A local stand-in for Slack, so the real Bolt app can be tested and demoed offline.

Start it with `start_slack()`; point the bot's WebClient at `handle.api_url` (what
`SLACK_API_URL` is for) and, for Socket Mode, give it `handle.app_token`. Then drive the bot
with `handle.send_slash_command(...)` / `send_block_action(...)` /
`send_app_home_opened(...)` / `send_home_action(...)` (HTTP, signed) or their `*_socket`
forms, and read what it said with `messages`, `thread`, `ephemerals`, `home`, `calls` and
`transcript`. See `harness` for the full surface.
"""

from sim.slack.drive import HttpDelivery
from sim.slack.faults import FaultKind, FaultRule
from sim.slack.harness import SlackHandle, start_slack
from sim.slack.records import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    Call,
    ChatEvent,
    Ephemeral,
    Message,
)
from sim.slack.signing import SignatureMode
from sim.slack.socket_mode import SocketDelivery
from sim.slack.views import HomeView

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "ChatEvent",
    "Ephemeral",
    "FaultKind",
    "FaultRule",
    "HomeView",
    "HttpDelivery",
    "Message",
    "SignatureMode",
    "SlackHandle",
    "SocketDelivery",
    "start_slack",
]
