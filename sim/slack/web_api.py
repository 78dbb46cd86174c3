"""HTTP plumbing for `/api/<method>`: argument parsing, tokens, faults, rate limits, recording.

slack_sdk sends form-encoded bodies, JSON bodies, multipart bodies and query strings
depending on the method and on sync vs async client, and puts the token either in an
`Authorization: Bearer` header or a `token` field; all are accepted and merged here so the
methods in `methods` only see plain arguments. Every request is recorded, faulted or not,
so a test can count retries.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sim.slack.faults import FaultKind, FaultPlan, FaultRule
from sim.slack.methods import APP_TOKEN_METHODS, METHODS, ApiContext, ApiError
from sim.slack.records import JsonDict
from sim.slack.state import Workspace


@dataclass
class ApiSettings:
    """Knobs a test may turn while the stand-in runs."""

    bot_token: str
    app_token: str
    enforce_rate_limit: bool = False
    rate_limit_retry_after: int = 1


async def read_args(request: web.Request) -> JsonDict:
    """Query string, then form or JSON body, as one dict (body wins, like Slack)."""
    args: JsonDict = dict(request.query)
    if not request.can_read_body:
        return args
    ctype = request.content_type
    if ctype == "application/json":
        raw = await request.text()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        if isinstance(body, dict):
            args.update(body)
    else:
        form = await request.post()
        args.update({k: v for k, v in form.items() if isinstance(v, str)})
    return args


def answer_fault(
    request: web.Request, rule: FaultRule, *, workspace: Workspace, method: str, args: JsonDict
) -> web.StreamResponse:
    """Record the refused call, then answer as the rule says; DROP closes the socket so the
    client sees a reset."""
    workspace.record_call(
        method, args, status=rule.status, error=rule.refusal, fault=rule.kind.value
    )
    if rule.kind is FaultKind.DROP:
        if request.transport is not None:
            request.transport.close()
        return web.Response()
    if rule.kind is FaultKind.RATE_LIMITED:
        return web.json_response(
            {"ok": False, "error": "ratelimited"},
            status=429,
            headers={"Retry-After": str(rule.retry_after)},
        )
    return web.json_response({"ok": False, "error": rule.error}, status=rule.status)


def _bearer(request: web.Request, args: JsonDict) -> str | None:
    header = request.headers.get("Authorization", "")
    token = args.pop("token", None)
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return token if isinstance(token, str) and token else None


class WebApi:
    """The `/api/{method}` endpoint over a workspace."""

    def __init__(
        self,
        *,
        workspace: Workspace,
        faults: FaultPlan,
        settings: ApiSettings,
        context: ApiContext,
    ) -> None:
        self._ws = workspace
        self._faults = faults
        self._settings = settings
        self._ctx = context

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args = await read_args(request)
        token = _bearer(request, args)
        rule = self._faults.match(method, args)
        if rule is not None and rule.kind is not FaultKind.DROP_AFTER:
            return answer_fault(request, rule, workspace=self._ws, method=method, args=args)
        answer = self._answer(method, args, token, fault=rule.kind.value if rule else None)
        if rule is not None:
            # The work is done and recorded; only the answer is lost on the way back.
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        return answer

    def _answer(
        self, method: str, args: JsonDict, token: str | None, *, fault: str | None
    ) -> web.Response:
        try:
            self._authorize(method, token)
            if method not in METHODS:
                raise ApiError("unknown_method")
            throttled = self._throttle(method, args)
            if throttled is not None:
                return throttled
            body = METHODS[method](self._ctx, args)
        except ApiError as exc:
            self._ws.record_call(method, args, status=200, error=exc.error, fault=fault)
            return web.json_response({"ok": False, "error": exc.error, **exc.extra})
        self._ws.record_call(method, args, status=200, fault=fault)
        return web.json_response({"ok": True, **body})

    def _authorize(self, method: str, token: str | None) -> None:
        if token is None:
            raise ApiError("not_authed")
        wants_app_token = method in APP_TOKEN_METHODS
        if token == self._settings.app_token:
            if not wants_app_token:
                raise ApiError("not_allowed_token_type")
        elif token == self._settings.bot_token:
            if wants_app_token:
                raise ApiError("not_allowed_token_type")
        else:
            raise ApiError("invalid_auth")

    def _throttle(self, method: str, args: dict[str, Any]) -> web.Response | None:
        """Slack's ~1 message per second per channel, when a test asks for enforcement."""
        if method != "chat.postMessage" or not self._settings.enforce_rate_limit:
            return None
        channel = self._ws.resolve_channel(str(args.get("channel", "")))
        if channel is None or self._ws.posts_in_last(channel, 1.0, now=time.time()) == 0:
            return None
        retry_after = self._settings.rate_limit_retry_after
        self._ws.record_call(method, args, status=429, error="ratelimited")
        return web.json_response(
            {"ok": False, "error": "ratelimited"},
            status=429,
            headers={"Retry-After": str(retry_after)},
        )
