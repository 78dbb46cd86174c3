"""Translate what the Kubernetes client raises into rollbot's error tree.

The engine decides what to do from the error type alone (retry later, refuse, report), so
every client, urllib3 and socket failure must arrive as one of :mod:`rollout.errors`.
"""

from __future__ import annotations

import http.client
import json

import urllib3
from kubernetes.client.exceptions import ApiException

from rollout.errors import ClusterError, Conflict, Forbidden, NotFound, TransientClusterError

# Everything a call through the client can raise because of the network or the server.
CLIENT_ERRORS: tuple[type[BaseException], ...] = (
    ApiException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)

GONE = 410


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an ``ApiException``, None for anything else."""
    if isinstance(exc, ApiException) and isinstance(exc.status, int) and exc.status > 0:
        return exc.status
    return None


def watch_error(status: object) -> ApiException:
    """A watch's ERROR event (a Status object) as the exception a request would raise."""
    code = status.get("code") if isinstance(status, dict) else None
    error = ApiException(status=code if isinstance(code, int) else 500, reason="watch error")
    error.body = json.dumps(status)
    return error


def retry_after(exc: BaseException) -> float | None:
    """Seconds from a Retry-After header (delta form only), None when absent or unreadable."""
    headers = getattr(exc, "headers", None) if isinstance(exc, ApiException) else None
    if not headers:
        return None
    raw = headers.get("Retry-After")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def server_message(exc: ApiException) -> str:
    """The ``message`` of the Status object the API server sent, else the HTTP reason."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str) and body:
        try:
            status = json.loads(body)
        except ValueError:
            return body.strip()[:300]
        if isinstance(status, dict) and isinstance(status.get("message"), str):
            return str(status["message"])
    return str(exc.reason or f"HTTP {exc.status}")


def _transport_reason(exc: BaseException) -> str:
    # MaxRetryError hides the interesting part (refused, reset, timed out) in .reason.
    reason = getattr(exc, "reason", None)
    inner = reason if isinstance(reason, BaseException) else exc
    return f"{type(inner).__name__}: {inner}" if str(inner) else type(inner).__name__


def translate(exc: BaseException, what: str, *, default_delay: float = 1.0) -> ClusterError:
    """Map one client exception to a rollbot ``ClusterError``; ``what`` names the call."""
    if isinstance(exc, ClusterError):
        return exc
    status = status_of(exc)
    if isinstance(exc, ApiException):
        message = f"{what}: {server_message(exc)}"
        if status == 404:
            return NotFound(message, status=status)
        if status in (401, 403):
            return Forbidden(message, status=status)
        if status == 409:
            return Conflict(message, status=status)
        if status is None or status == 429 or status >= 500:
            delay = retry_after(exc)
            return TransientClusterError(
                message, status=status, delay=default_delay if delay is None else delay
            )
        return ClusterError(message, status=status)
    return TransientClusterError(
        f"{what}: cannot reach the API server ({_transport_reason(exc)})", delay=default_delay
    )
