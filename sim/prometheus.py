"""A Prometheus stand-in: the instant-query API, answering error rates per namespace.

Real HTTP on 127.0.0.1 (`GET` or form `POST` on `/api/v1/query`), shaped like
Prometheus's own answers, so rollbot's adapter is tested against the wire format. The
namespace a query is about is the first `namespace="..."` in it; its answer is what
`rates` holds for that namespace (else `default_rate`):

- a number: one series with that value (`float("nan")` reads as Prometheus's "NaN");
- None: no series at all (no traffic in the window);
- a tuple of numbers: that many series (a query missing its `sum(...)`).

`failure` makes every query fail with that HTTP status and a Prometheus error body;
`token` makes it demand that bearer token. Every query and its Authorization header is
recorded. Standard library only, on a daemon thread.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

Rate = float | None | tuple[float, ...]

_NAMESPACE = re.compile(r'namespace\s*=~?\s*"([^"]*)"')


class PrometheusStandIn:
    """Start with `with PrometheusStandIn(...) as prom:`; `prom.url` is the base URL."""

    def __init__(
        self,
        rates: Mapping[str, Rate] | None = None,
        *,
        default_rate: Rate = 0.0,
        token: str | None = None,
    ) -> None:
        self.rates: dict[str, Rate] = dict(rates or {})
        self.default_rate = default_rate
        self.token = token
        self.failure: tuple[int, str] | None = None  # (HTTP status, error text)
        self.queries: list[str] = []
        self.authorizations: list[str | None] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="prometheus-standin", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- answering --------------------------------------------------------------------------

    def answer(self, query: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.queries.append(query)
            self.authorizations.append(authorization)
            failure = self.failure
            found = _NAMESPACE.search(query)
            rate = self.rates.get(found.group(1), self.default_rate) if found else None
        if self.token is not None and authorization != f"Bearer {self.token}":
            return 401, {"status": "error", "errorType": "unauthorized", "error": "bad token"}
        if failure is not None:
            status, error = failure
            kind = "bad_data" if status == 400 else "execution"
            return status, {"status": "error", "errorType": kind, "error": error}
        if not query.strip():
            return 400, {"status": "error", "errorType": "bad_data", "error": "empty query"}
        now = time.time()
        values = () if rate is None else rate if isinstance(rate, tuple) else (rate,)
        result = [
            {"metric": {"namespace": found.group(1) if found else ""}, "value": [now, _text(v)]}
            for v in values
        ]
        return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}


def _text(value: float) -> str:
    return "NaN" if math.isnan(value) else repr(float(value))


def _handler(stand_in: PrometheusStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            self._query(parts.path, parse_qs(parts.query))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
            self._query(urlsplit(self.path).path, form)

        def _query(self, path: str, params: dict[str, list[str]]) -> None:
            if path != "/api/v1/query":
                self._send(404, {"status": "error", "errorType": "not_found", "error": path})
                return
            query = (params.get("query") or [""])[0]
            status, body = stand_in.answer(query, self.headers.get("Authorization"))
            self._send(status, body)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests read the recorded queries instead

    return Handler
