"""The App Home tabs the bot published, one per user, as `views.publish` left them.

Slack keeps one Home view per user and app and shows the newest; the stand-in keeps every
version, so a test can see that a view was published again (and what changed) as well as
click the buttons of the one the user sees now. The shape is checked as far as rollbot can
get it wrong: a `home` type, at most 100 blocks, each within Block Kit's limits.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sim.slack.blocks import validate_blocks
from sim.slack.records import APP_ID, BOT_ID, TEAM_ID, JsonDict

MAX_VIEW_BLOCKS = 100  # a Home tab, a modal: Slack's limit for views (messages take 50)


class ViewRefused(Exception):
    """What Slack answers a view it will not show: the error and its messages."""

    def __init__(self, error: str, messages: list[str]) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages


@dataclass(frozen=True)
class HomeView:
    """One published version of a user's Home tab."""

    user: str
    id: str
    view: JsonDict  # as views.publish received it
    at: float
    hash: str

    @property
    def blocks(self) -> list[JsonDict]:
        return list(self.view.get("blocks") or [])

    def to_api(self) -> JsonDict:
        """The view as Slack returns it and puts it in a click's payload."""
        return {
            "id": self.id, "team_id": TEAM_ID, "type": "home", "blocks": self.blocks,
            "private_metadata": str(self.view.get("private_metadata") or ""),
            "callback_id": str(self.view.get("callback_id") or ""), "state": {"values": {}},
            "hash": self.hash, "app_id": APP_ID, "bot_id": BOT_ID,
            "external_id": str(self.view.get("external_id") or ""),
        }  # fmt: skip


def check_view(view: Any) -> None:
    """Refuse what Slack would: not a home view, or blocks it cannot show."""
    if not isinstance(view, dict) or view.get("type") != "home":
        raise ViewRefused("invalid_arguments", ["[ERROR] must be home [json-pointer:/view/type]"])
    problems = validate_blocks(view.get("blocks"), max_blocks=MAX_VIEW_BLOCKS)
    if problems:
        raise ViewRefused("invalid_arguments", [p.replace(":/blocks", ":/view/blocks")
                                                for p in problems])


@dataclass
class HomeViews:
    """Every user's Home tab, newest version last; thread-safe."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _views: dict[str, list[HomeView]] = field(default_factory=dict)

    def publish(self, user: str, view: JsonDict) -> HomeView:
        check_view(view)
        with self._lock:
            versions = self._views.setdefault(user, [])
            view_id = versions[0].id if versions else "V" + secrets.token_hex(5).upper()
            home = HomeView(user, view_id, dict(view), time.time(), secrets.token_hex(8))
            versions.append(home)
            return home

    def home(self, user: str) -> HomeView | None:
        """What `user` sees on the Home tab now; None before anything was published."""
        with self._lock:
            versions = self._views.get(user)
            return versions[-1] if versions else None

    def history(self, user: str) -> list[HomeView]:
        with self._lock:
            return list(self._views.get(user, ()))
