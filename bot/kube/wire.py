"""Requests to the API server as plain JSON, within the limits the operator set.

rollbot reads and writes a handful of kinds (deployments, pods, replica sets, services,
config maps, access reviews), so it speaks to the server below the client's generated
API classes: those take seconds to import and turn every answer into validated model
objects, which at thousands of tenants costs more CPU than the requests themselves. The
client still supplies what is hard to get right: credentials from the kubeconfig (tokens,
client certificates, exec plugins and their refresh) and the pooled connections.

Every request passes through :class:`Throttle`: no more than ``max_in_flight`` at once
(watches excepted, as the API server's own in-flight limit excepts long-running
requests), no faster than ``qps`` on average with bursts of ``burst``, and none at all
while the server has asked for a pause (429 with Retry-After, which is how API Priority
and Fairness says a priority level is full).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from bot.kube.errors import retry_after

Json = dict[str, Any]
Query = Sequence[tuple[str, str | int]]

JSON_TYPE = "application/json"
UNAUTHORIZED = 401
TOKEN_REREAD_SECONDS = 5.0
WATCH_READ = 64 * 1024  # bytes a watch stream is read in


@dataclass(frozen=True)
class Limits:
    """How hard rollbot may press the API server (config key ``kubernetes``)."""

    max_in_flight: int = 32  # requests waiting for their answer at once, watches aside
    qps: float = 100.0  # requests started per second, on average; 0 means no limit
    burst: int = 200  # requests that may start at once after a quiet spell


@dataclass
class ThrottleStats:
    in_flight: int = 0
    peak_in_flight: int = 0
    waited_for_slot: int = 0  # requests that found every slot taken
    waited_for_rate: int = 0  # requests the rate limit held back
    paused_by_server: int = 0  # 429 answers that paused every request


class Throttle:
    """A slot per request in flight, a token bucket for the rate, and a pause that a
    429 from the server sets for everyone; thread-safe. A request that finds a slot and
    a token free takes both under one lock: at thousands of requests a second, every
    extra lock round costs CPU that every other request waits for."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.stats = ThrottleStats()
        self._slots = max(1, limits.max_in_flight)
        self._lock = threading.Lock()
        self._slot_freed = threading.Condition(self._lock)
        self._tokens = float(max(1, limits.burst))
        self._refilled = time.monotonic()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """The server asked for a pause: no request starts before it is over."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + max(0.0, seconds))
            self.stats.paused_by_server += 1

    def _rate_wait(self, now: float) -> float:
        """Seconds until a request may start, or 0 after taking its token; lock held."""
        wait = self._paused_until - now
        if wait > 0:
            return wait
        qps = self.limits.qps
        if qps <= 0:
            return 0.0
        burst = float(max(1, self.limits.burst))
        self._tokens = min(burst, self._tokens + (now - self._refilled) * qps)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / qps

    def _wait_for_rate(self) -> None:
        counted = False
        while True:
            with self._lock:
                wait = self._rate_wait(time.monotonic())
                if wait <= 0:
                    return
                if not counted:
                    self.stats.waited_for_rate += 1
                    counted = True
            time.sleep(wait)

    def enter(self, *, long_running: bool = False) -> None:
        stats = self.stats
        with self._lock:  # the common case: a token and a slot are free
            free = not long_running and stats.in_flight < self._slots
            if free and self._rate_wait(time.monotonic()) <= 0:
                self._took_slot()
                return
        self._wait_for_rate()
        if long_running:
            return
        with self._slot_freed:
            if stats.in_flight >= self._slots:
                stats.waited_for_slot += 1
                while stats.in_flight >= self._slots:
                    self._slot_freed.wait()
            self._took_slot()

    def _took_slot(self) -> None:
        stats = self.stats
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)

    def leave(self) -> None:
        with self._slot_freed:
            self.stats.in_flight -= 1
            self._slot_freed.notify()


def path(*parts: str) -> str:
    """An API path from its segments, each escaped."""
    return "/" + "/".join(quote(p, safe="") for p in parts if p)


def namespaced(group: str, namespace: str, plural: str, name: str = "") -> str:
    """``/apis/apps/v1/namespaces/NS/deployments/NAME`` (group "" is the core group)."""
    base = ("api", "v1") if not group else ("apis", *group.split("/"))
    return path(*base, "namespaces", namespace, plural, name)


class Wire:
    """The requests themselves: each returns parsed JSON or raises ``ApiException`` with
    the server's status, body and headers, as the generated client would."""

    def __init__(self, api: ApiClient, limits: Limits, *, max_pause: float = 8.0) -> None:
        self.api = api
        self.throttle = Throttle(limits)
        self.max_pause = max_pause  # the longest pause a 429 may impose on everyone
        self._token_lock = threading.Lock()
        self._token_value: str | None = None
        self._token_read = -math.inf
        self._route: _Route | None = None
        self._timeouts: dict[tuple[float, float], urllib3.Timeout] = {}

    def _token(self) -> str | None:
        """The bearer token, read again every few seconds and after a 401: reading it
        runs the kubeconfig's refresh (an exec plugin, OIDC), which re-reads the whole
        configuration and is too slow to do for every request."""
        with self._token_lock:
            now = time.monotonic()
            if now - self._token_read >= TOKEN_REREAD_SECONDS:
                configuration = self.api.configuration
                self._token_value = configuration.get_api_key_with_prefix(
                    "BearerToken", alias="authorization"
                )
                self._token_read = now
            return self._token_value

    def _send(
        self,
        method: str,
        resource: str,
        *,
        query: Query,
        body: object,
        content_type: str | None,
        timeout: tuple[float, float],
        accept: str,
        any_status: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        headers = {**self.api.default_headers, "Accept": accept}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if token := self._token():
            headers["Authorization"] = token
        target = resource
        if query:
            target += "?" + urlencode([(key, str(value)) for key, value in query])
        response = self._open(
            method, target, body=None if body is None else json.dumps(body),
            headers=headers, timeout=self._timeout(timeout),
        )  # fmt: skip
        if response.status == UNAUTHORIZED:
            self._token_read = -math.inf  # renewed before the next request
        if response.status >= 400 and not any_status:
            try:
                text = (response.data or b"").decode("utf-8", errors="replace")
            finally:
                response.release_conn()
            error = ApiException(status=response.status, reason=response.reason, body=text)
            error.headers = response.headers
            raise error
        return response

    def _timeout(self, seconds: tuple[float, float]) -> urllib3.Timeout:
        """The urllib3 timeout for (connect, read); a handful are ever used, so each is
        made once."""
        found = self._timeouts.get(seconds)
        if found is None:
            found = self._timeouts[seconds] = urllib3.Timeout(connect=seconds[0], read=seconds[1])
        return found

    def _open(
        self, method: str, target: str, *, body: str | None, headers: dict[str, str],
        timeout: urllib3.Timeout,
    ) -> urllib3.BaseHTTPResponse:
        """One request on the API server's connection pool. The pool is looked up once:
        finding it by URL for every request (parsing the URL, normalizing the pool key)
        costs as much CPU as a large share of the request itself. Through a proxy,
        which needs the whole URL, each request goes by the pool manager."""
        route = self._route
        if route is None:
            route = self._route = _Route.of(self.api)
        if route.pool is None:
            return self.api.rest_client.pool_manager.request(
                method, route.base + target, body=body, headers=headers, timeout=timeout,
                preload_content=False, retries=False,
            )  # fmt: skip
        return route.pool.urlopen(
            method, route.prefix + target, body=body, headers=headers, timeout=timeout,
            preload_content=False, retries=False, assert_same_host=False,
        )  # fmt: skip

    def call(
        self,
        method: str,
        resource: str,
        *,
        timeout: tuple[float, float],
        query: Query = (),
        body: object = None,
        content_type: str | None = None,
        accept: str = JSON_TYPE,
    ) -> bytes:
        """One request; the whole body of its answer."""
        self.throttle.enter()
        try:
            response = self._send(
                method,
                resource,
                query=query,
                body=body,
                content_type=content_type,
                timeout=timeout,
                accept=accept,
            )
            try:
                return bytes(response.data or b"")
            finally:
                response.release_conn()
        except ApiException as exc:
            if exc.status == 429:
                self.throttle.pause(min(self.max_pause, _server_pause(exc)))
            raise
        finally:
            self.throttle.leave()

    def fetch(
        self, resource: str, *, timeout: tuple[float, float], accept: str
    ) -> tuple[int, bytes]:
        """A GET whose every answer is a result (a pod proxy's 503 is the app's answer,
        not a failure of the request): its status and body."""
        self.throttle.enter()
        try:
            response = self._send(
                "GET",
                resource,
                query=(),
                body=None,
                content_type=None,
                timeout=timeout,
                accept=accept,
                any_status=True,
            )
            try:
                return response.status, bytes(response.data or b"")
            finally:
                response.release_conn()
        finally:
            self.throttle.leave()

    def json(self, method: str, resource: str, **kwargs: Any) -> Json:
        raw = self.call(method, resource, **kwargs)
        parsed = json.loads(raw) if raw else {}
        return parsed if isinstance(parsed, dict) else {}

    def get(self, resource: str, *, timeout: tuple[float, float], query: Query = ()) -> Json:
        return self.json("GET", resource, timeout=timeout, query=query)

    def stream(
        self, resource: str, *, query: Query, timeout: tuple[float, float]
    ) -> Generator[Json, None, None]:
        """A watch: one JSON object per line until the server ends the stream."""
        self.throttle.enter(long_running=True)
        try:
            response = self._send(
                "GET",
                resource,
                query=query,
                body=None,
                content_type=None,
                timeout=timeout,
                accept=JSON_TYPE,
            )
        except ApiException as exc:
            if exc.status == 429:
                self.throttle.pause(min(self.max_pause, _server_pause(exc)))
            raise
        return _lines(response)


@dataclass(frozen=True)
class _Route:
    """Where requests go: the API server's own connection pool and the path its URL
    carries (a proxying front end may serve the API under one), or no pool when a
    proxy is in the way and every request must name the whole URL."""

    base: str
    prefix: str
    pool: urllib3.HTTPConnectionPool | None

    @classmethod
    def of(cls, api: ApiClient) -> _Route:
        base = str(api.configuration.host).rstrip("/")
        manager = api.rest_client.pool_manager
        if isinstance(manager, urllib3.ProxyManager):
            return cls(base, "", None)
        prefix = urllib3.util.parse_url(base).path or ""
        return cls(base, prefix.rstrip("/"), manager.connection_from_url(base))


def _lines(response: urllib3.BaseHTTPResponse) -> Generator[Json, None, None]:
    pending = b""
    finished = False
    try:
        for chunk in response.stream(WATCH_READ, decode_content=True):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                if line.strip():
                    event = json.loads(line)
                    if isinstance(event, dict):
                        yield event
        finished = True
    finally:
        if not finished:
            response.close()  # a stream left half-read cannot serve another request
        response.release_conn()


def _server_pause(exc: ApiException) -> float:
    """How long a 429 asks everyone to wait: its Retry-After, else a second."""
    hinted = retry_after(exc)
    return 1.0 if hinted is None else hinted
