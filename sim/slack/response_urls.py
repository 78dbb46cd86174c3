"""`response_url`s: minted per slash command or interaction, usable 5 times in 30 minutes.

Bolt's `respond()` posts to these; Slack turns the post into an ephemeral reply, a channel
message, an in-place replacement of the clicked message, or its deletion. The stand-in does
the same against its workspace and records every post as a `response_url` call, so tests
can assert what the bot answered and how often it used one URL.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sim.slack.faults import FaultPlan
from sim.slack.methods import ApiError, message_content
from sim.slack.records import JsonDict
from sim.slack.state import Workspace
from sim.slack.web_api import answer_fault

MAX_USES = 5
TTL_SECONDS = 30 * 60


@dataclass
class ResponseTarget:
    """Where answers to one response_url go."""

    id: str
    channel: str
    user: str
    message_ts: str | None = None
    ephemeral_ts: str | None = None
    thread_ts: str | None = None
    created: float = 0.0
    uses: int = 0


def _flag(body: JsonDict, key: str) -> bool:
    value = body.get(key)
    return value is True or (isinstance(value, str) and value.lower() == "true")


async def _read_body(request: web.Request) -> JsonDict:
    raw = await request.text()
    try:
        body: Any = json.loads(raw) if raw else {}
    except ValueError:
        form = await request.post()
        payload = form.get("payload")
        body = json.loads(payload) if isinstance(payload, str) else {}
    if not isinstance(body, dict):
        raise ApiError("invalid_payload")
    return body


class ResponseUrls:
    """Mints response_urls and serves `POST /response/{id}`."""

    def __init__(
        self,
        *,
        workspace: Workspace,
        faults: FaultPlan,
        base_url: Callable[[], str],
        max_uses: int = MAX_USES,
        ttl: float = TTL_SECONDS,
    ) -> None:
        self._ws = workspace
        self._faults = faults
        self._base_url = base_url
        self._max_uses = max_uses
        self._ttl = ttl
        self._targets: dict[str, ResponseTarget] = {}

    def mint(
        self,
        *,
        channel: str,
        user: str,
        message_ts: str | None = None,
        ephemeral_ts: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        target = ResponseTarget(
            id=uuid.uuid4().hex,
            channel=channel,
            user=user,
            message_ts=message_ts,
            ephemeral_ts=ephemeral_ts,
            thread_ts=thread_ts,
            created=time.monotonic(),
        )
        self._targets[target.id] = target
        return f"{self._base_url()}response/{target.id}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        url_id = request.match_info["id"]
        try:
            body = await _read_body(request)
        except ApiError as exc:
            self._ws.record_call("response_url", {"url_id": url_id}, status=400, error=exc.error)
            return web.json_response({"ok": False, "error": exc.error}, status=400)
        args = {"url_id": url_id, **body}
        rule = self._faults.match("response_url", args)
        if rule is not None:
            return answer_fault(request, rule, workspace=self._ws, method="response_url", args=args)
        try:
            target = self._claim(url_id)
            self._apply(target, body)
        except ApiError as exc:
            status = 404 if exc.error in ("no_such_url", "used_url", "expired_url") else 400
            self._ws.record_call("response_url", args, status=status, error=exc.error)
            return web.json_response({"ok": False, "error": exc.error, **exc.extra}, status=status)
        self._ws.record_call("response_url", args, status=200)
        return web.json_response({"ok": True})

    def _claim(self, url_id: str) -> ResponseTarget:
        target = self._targets.get(url_id)
        if target is None:
            raise ApiError("no_such_url")
        if time.monotonic() - target.created > self._ttl:
            raise ApiError("expired_url")
        if target.uses >= self._max_uses:
            raise ApiError("used_url")
        target.uses += 1
        return target

    def _apply(self, target: ResponseTarget, body: JsonDict) -> None:
        if _flag(body, "delete_original"):
            self._delete_original(target)
            return
        text, blocks = message_content(body, required=True)
        if _flag(body, "replace_original") and self._replace_original(target, text, blocks):
            return
        thread_ts = body.get("thread_ts") or target.thread_ts
        if body.get("response_type") == "in_channel":
            self._ws.post_message(
                target.channel, text=text or "", blocks=blocks or (), thread_ts=thread_ts
            )
            return
        eph = self._ws.post_ephemeral(
            target.channel,
            user=target.user,
            text=text or "",
            blocks=blocks or (),
            thread_ts=thread_ts,
            source="response_url",
        )
        # A later replace_original on a command's URL replaces this reply, as in Slack.
        if target.message_ts is None:
            target.ephemeral_ts = eph.ts

    def _replace_original(
        self, target: ResponseTarget, text: str | None, blocks: list[JsonDict] | None
    ) -> bool:
        if target.message_ts is not None:
            # Slack replaces the whole message: blocks the answer leaves out are gone.
            updated = self._ws.update_message(
                target.channel, target.message_ts, text=text or "", blocks=blocks or []
            )
            if updated is None:
                raise ApiError("message_not_found")
            return True
        if target.ephemeral_ts is not None:
            replaced = self._ws.replace_ephemeral(
                target.ephemeral_ts, text=text or "", blocks=blocks or []
            )
            return replaced is not None
        return False

    def _delete_original(self, target: ResponseTarget) -> None:
        if target.message_ts is not None:
            if self._ws.delete_message(target.channel, target.message_ts) is None:
                raise ApiError("message_not_found")
        elif target.ephemeral_ts is not None:
            self._ws.replace_ephemeral(target.ephemeral_ts, text=None, blocks=None, delete=True)
        else:
            raise ApiError("message_not_found")
