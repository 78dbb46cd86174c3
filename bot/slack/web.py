"""Every Slack Web API client rollbot makes: where it points, how long a call may take,
which failures the SDK retries, and whether its calls are counted for `/metrics`.

`SLACK_API_URL` names the Web API, so tests and `rollbot demo` can put the Slack stand-in
there; the SDK appends method names to it, so it must end with a slash, and
:func:`api_base` is the one place that sees to it. Three clients, for three jobs:

- the Bolt app's (:func:`bot_client`): asyncio, retrying 429s (after Retry-After), 5xx
  answers and dropped connections, every call counted;
- the delivery's (:func:`delivery_client`): blocking, with no SDK retries at all, since
  the outbox retries on its own terms (see :mod:`bot.slack.client`);
- a terminal's user-group lookups (:func:`lookup_client`): a short timeout and a few
  retries, for a process that asks once and exits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

from slack_sdk import WebClient
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.metrics import Metrics

DEFAULT_API_URL = "https://slack.com/api/"
BOT_TIMEOUT = 15  # seconds for one Web API request of the bot, retries aside
LOOKUP_TIMEOUT = 5  # seconds for one user-group lookup from a terminal


class _Answer(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...


R = TypeVar("R", bound=_Answer)


def api_base(url: str | None = None) -> str:
    """The Web API's base URL as the SDK wants it: `SLACK_API_URL` (default Slack's own),
    ending with a slash."""
    base = url or DEFAULT_API_URL
    return base if base.endswith("/") else base + "/"


def retry_handlers(
    *, dropped: int = 2, rate_limited: int = 5, server_errors: int = 2
) -> list[AsyncRetryHandler]:
    """429 after Retry-After, 5xx, and connections that drop: each retried a few times."""
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=dropped),
        AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limited),
        AsyncServerErrorRetryHandler(max_retry_count=server_errors),
    ]


def bot_client(*, token: str, api_url: str | None, metrics: Metrics) -> CountingWebClient:
    return CountingWebClient(
        token=token,
        base_url=api_base(api_url),
        timeout=BOT_TIMEOUT,
        retry_handlers=retry_handlers(),
        metrics=metrics,
    )


def delivery_client(
    *, token: str, api_url: str | None, timeout: float = 10.0, metrics: Metrics | None = None
) -> WebClient:
    """A blocking client with no SDK retries; counted when `metrics` are given."""
    settings: dict[str, Any] = {
        "token": token, "base_url": api_base(api_url), "timeout": int(timeout),
        "retry_handlers": [],
    }  # fmt: skip
    if metrics is None:
        return WebClient(**settings)
    return CountingSyncWebClient(**settings, metrics=metrics)


def lookup_client(*, token: str, api_url: str | None) -> AsyncWebClient:
    return AsyncWebClient(
        token=token,
        base_url=api_base(api_url),
        timeout=LOOKUP_TIMEOUT,
        retry_handlers=retry_handlers(dropped=1, rate_limited=2, server_errors=1),
    )


# --- counting calls ---------------------------------------------------------------------------


@contextlib.contextmanager
def _counted(metrics: Metrics, method: str) -> Iterator[Callable[[R], R]]:
    """Count one call under `method` once it is over: failed unless the answer it was
    given says ok (an exception, an `ok: false`)."""
    ok = False

    def answered(response: R) -> R:
        nonlocal ok
        ok = bool(response.get("ok", True))
        return response

    try:
        yield answered
    finally:
        metrics.count_call("slack", method, ok=ok)


class CountingWebClient(AsyncWebClient):
    """The bot's Slack client, counting every Web API call and every failure."""

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        with _counted(self.metrics, api_method) as answered:
            return answered(await super().api_call(api_method, **kwargs))


class CountingSyncWebClient(WebClient):
    """The delivery's (blocking) Slack client, counted the same way."""

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        with _counted(self.metrics, api_method) as answered:
            return answered(super().api_call(api_method, **kwargs))
