"""The Web API calls of the delivery, each answer sorted into what the outbox does next.

Retries are the outbox's business, not the SDK's: it keeps them across restarts, waits out
one channel's Retry-After while other channels go on, and looks a post up before sending
it again when an earlier attempt may have reached Slack. So the delivery works on a copy
of the given WebClient with the SDK's retry handlers off: the default connection-error
handler would resend a `chat.postMessage` whose answer was lost (posting it twice), and a
rate-limit handler would sleep out a Retry-After with every channel held up behind it.
"""

from __future__ import annotations

import copy
import http.client
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.slack.uploads import SlackUploader

log = logging.getLogger(__name__)

EVENT_TYPE = "rollbot_message"  # message metadata: event_payload.outbox_key names the row
LOOKUP_PAGES = 10  # of 200 messages: how far back a lost post is looked for
LOOKUP_SLACK_SECONDS = 300.0  # clock skew allowed between this host and Slack

# Answers that no retry will change; everything else that is not ok, and not in
# TRANSIENT_ERRORS, is a complaint about the message itself (invalid_blocks, msg_too_long).
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed",
        "account_inactive", "token_revoked", "token_expired", "no_permission", "missing_scope",
        "restricted_action", "message_not_found", "cant_update_message", "edit_window_closed",
        "thread_not_found", "not_allowed_token_type", "team_access_not_granted",
        "ekm_access_denied", "access_denied", "method_deprecated", "unknown_method",
    }
)  # fmt: skip
TRANSIENT_ERRORS = frozenset(
    {"fatal_error", "internal_error", "service_unavailable", "request_timeout", "timeout"}
)


class Verdict(StrEnum):
    OK = "ok"
    RATE_LIMITED = "rate-limited"  # not done; again after `retry_after`
    TRANSIENT = "transient"  # 5xx, a dropped connection, a timeout: it may have happened
    REFUSED = "refused"  # Slack rejected the content; a plainer version may pass
    FAILED = "failed"  # retrying cannot help (unknown channel, bad token, message gone)


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    value: str | None = None  # the ts of a post, a permalink, the ts of a post found again
    retry_after: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK


def without_retries(client: WebClient) -> WebClient:
    """The same client (token, URL, timeout, subclass and all) with SDK retries off."""
    quiet = copy.copy(client)
    quiet.retry_handlers = []
    return quiet


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return str(value[0] if isinstance(value, list) and value else value)
    return None


def classify(exc: Exception) -> Answer:
    """What a failed call means for the row that made it."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = str(exc.response.get("error") or f"http_{status}")
        if status == 429 or error == "ratelimited":
            raw = _header(exc.response.headers, "Retry-After")
            try:
                retry_after = max(0.0, float(raw)) if raw is not None else 1.0
            except ValueError:
                retry_after = 1.0
            return Answer(Verdict.RATE_LIMITED, retry_after=retry_after, error=error)
        if status >= 500 or error in TRANSIENT_ERRORS:
            return Answer(Verdict.TRANSIENT, error=error)
        if error in PERMANENT_ERRORS:
            return Answer(Verdict.FAILED, error=error)
        return Answer(Verdict.REFUSED, error=error)
    if isinstance(exc, SlackRequestError):
        return Answer(Verdict.FAILED, error=str(exc))
    if isinstance(exc, OSError | http.client.HTTPException):
        return Answer(Verdict.TRANSIENT, error=f"{type(exc).__name__}: {exc}")
    # Anything else (a garbled body, say) is retried with backoff, and logged in full.
    log.warning("unexpected error from the Slack Web API", exc_info=exc)
    return Answer(Verdict.TRANSIENT, error=f"{type(exc).__name__}: {exc}")


class SlackCalls:
    """chat.postMessage, chat.update, chat.getPermalink, views.publish, file uploads, and
    the look-up of a post or a file share whose answer was lost."""

    def __init__(self, client: WebClient) -> None:
        self._client = without_retries(client)

    def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None,
        thread_ts: str | None,
        key: str,
        broadcast: bool = False,
    ) -> Answer:
        args: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "metadata": {"event_type": EVENT_TYPE, "event_payload": {"outbox_key": key}},
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if blocks:
            args["blocks"] = list(blocks)
        if thread_ts:
            args["thread_ts"] = thread_ts
            args["reply_broadcast"] = broadcast
        try:
            response = self._client.chat_postMessage(**args)
        except Exception as exc:
            return classify(exc)
        return Answer(Verdict.OK, value=str(response["ts"]))

    def update(
        self, channel: str, ts: str, *, text: str, blocks: Sequence[Mapping[str, Any]] | None
    ) -> Answer:
        # An empty list clears blocks a plain-text fallback replaces; None would keep them.
        try:
            self._client.chat_update(
                channel=channel, ts=ts, text=text, blocks=[dict(b) for b in blocks or ()]
            )
        except Exception as exc:
            return classify(exc)
        return Answer(Verdict.OK, value=ts)

    def publish_home(
        self, user: str, *, text: str, blocks: Sequence[Mapping[str, Any]] | None
    ) -> Answer:
        """views.publish: `user`'s App Home tab, replaced whole. Without blocks (Slack
        refused them, and the outbox falls back to plain text) the text is shown alone."""
        shown = [dict(b) for b in blocks] if blocks else [
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000] or " "}}]
        try:
            response = self._client.views_publish(
                user_id=user, view={"type": "home", "blocks": shown})
        except Exception as exc:
            return classify(exc)
        return Answer(Verdict.OK, value=str((response.get("view") or {}).get("id") or ""))

    def permalink(self, channel: str, ts: str) -> Answer:
        try:
            response = self._client.chat_getPermalink(channel=channel, message_ts=ts)
        except Exception as exc:
            return classify(exc)
        return Answer(Verdict.OK, value=str(response["permalink"]))

    def upload(
        self, channel: str, *, path: str, filename: str, title: str, comment: str,
        thread_ts: str | None, noted: Callable[[str], None],
    ) -> Answer:
        """Share the file at `path` (a note when it is gone); OK with the file's ID."""
        try:
            content = Path(path).read_bytes() if Path(path).is_file() else (
                f"{filename} is no longer on rollbot's disk ({path}).\n".encode())
            file_id = SlackUploader(self._client).send(
                channel=channel, content=content, filename=filename, title=title,
                thread_ts=thread_ts, comment=comment, noted=noted)
        except Exception as exc:
            answer = classify(exc)
            # A file has no plainer version to fall back to: what Slack refused, it refuses.
            if answer.verdict is Verdict.REFUSED:
                return Answer(Verdict.FAILED, error=answer.error)
            return answer
        return Answer(Verdict.OK, value=file_id)

    def find_posted(
        self, channel: str, *, key: str, thread_ts: str | None, since: float,
        file_id: str | None = None,
    ) -> Answer:
        """OK with the ts of the post carrying `key`, or of the share of `file_id` when one
        is given (None when there is none), or why the channel could not be read."""
        try:
            for message in self._recent(channel, thread_ts=thread_ts, since=since):
                if _carries(message, key=key, file_id=file_id):
                    return Answer(Verdict.OK, value=str(message["ts"]))
        except Exception as exc:
            return classify(exc)
        return Answer(Verdict.OK, value=None)

    def _recent(
        self, channel: str, *, thread_ts: str | None, since: float
    ) -> Iterator[Mapping[str, Any]]:
        cursor: str | None = None
        oldest = f"{max(0.0, since - LOOKUP_SLACK_SECONDS):.6f}"
        for _ in range(LOOKUP_PAGES):
            args: dict[str, Any] = {
                "channel": channel,
                "oldest": oldest,
                "limit": 200,
                "include_all_metadata": True,
            }
            if cursor:
                args["cursor"] = cursor
            if thread_ts:
                response = self._client.conversations_replies(ts=thread_ts, **args)
            else:
                response = self._client.conversations_history(**args)
            yield from response.get("messages") or []
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return


def _carries(message: Mapping[str, Any], *, key: str, file_id: str | None) -> bool:
    """The message is the outbox row's: its metadata names the row, or it shares its file."""
    if file_id is not None:
        return any(f.get("id") == file_id for f in message.get("files") or ())
    meta = message.get("metadata") or {}
    payload = meta.get("event_payload") or {}
    return bool(meta.get("event_type") == EVENT_TYPE and payload.get("outbox_key") == key)
