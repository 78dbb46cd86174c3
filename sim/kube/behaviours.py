"""How a simulated pod behaves, chosen by namespace and image tag, and what it says.

Rules set at run time come first (first match wins); then the tag speaks for itself:
``crash``, ``unready``, ``unhealthy``, ``errorsNN`` (NN% of requests fail) and
``slowNN`` (responses NN times slower). Anything else is healthy with no errors.
Logs and health answers are pure functions of the pod and its behaviour, so tests can
count on exact numbers.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sim.kube.objects import image_tag

MODES = ("healthy", "crash", "unready", "unhealthy")
HTTP_LINES = 100
_ENDPOINTS = ("/api/tenants", "/api/customers", "/api/invoices", "/api/radius/sessions",
              "/api/network/devices", "/api/tickets", "/api/billing/plans")


@dataclass(frozen=True)
class Behaviour:
    mode: str = "healthy"
    error_rate: float = 0.0  # share of HTTP requests that fail, 0..1
    latency_factor: float = 1.0  # response time multiplier against the baseline

    @property
    def starts(self) -> bool:
        return self.mode != "crash"

    @property
    def ready(self) -> bool:
        return self.mode in ("healthy", "unhealthy")


@dataclass(frozen=True)
class Rule:
    namespace: str  # glob over the pod's namespace
    tag: str  # glob over the image tag
    behaviour: Behaviour

    def as_dict(self) -> dict[str, Any]:
        b = self.behaviour
        return {"namespace": self.namespace, "tag": self.tag, "behaviour": b.mode,
                "error_rate": b.error_rate, "latency_factor": b.latency_factor}


def make_behaviour(mode: str, *, error_rate: float = 0.0, latency_factor: float = 1.0
                   ) -> Behaviour:
    """Validate and build a behaviour; ``errors`` and ``slow`` are healthy variants."""
    if mode == "errors":
        mode = "healthy"
    if mode == "slow":
        mode, latency_factor = "healthy", latency_factor if latency_factor != 1.0 else 5.0
    if mode not in MODES:
        raise ValueError(f"unknown behaviour {mode!r}; expected one of {', '.join(MODES)}")
    if not 0.0 <= error_rate <= 1.0:
        raise ValueError("error_rate is a share between 0 and 1")
    if latency_factor <= 0:
        raise ValueError("latency_factor must be positive")
    return Behaviour(mode, float(error_rate), float(latency_factor))


def from_tag(tag: str) -> Behaviour:
    """The built-in behaviour an image tag asks for."""
    mode = next((m for m in ("crash", "unready", "unhealthy") if m in tag), "healthy")
    errors = re.search(r"errors(\d+)", tag)
    slow = re.search(r"slow(\d+)", tag)
    return Behaviour(
        mode,
        min(int(errors.group(1)), 100) / 100 if errors else 0.0,
        float(slow.group(1)) if slow and int(slow.group(1)) > 0 else 1.0,
    )


class Behaviours:
    """The rule list; read by the controller, the log and proxy endpoints."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []

    def add(self, namespace: str, tag: str, mode: str, **params: float) -> Rule:
        rule = Rule(namespace, tag, make_behaviour(mode, **params))
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def resolve(self, namespace: str, image: str) -> Behaviour:
        tag = image_tag(image)
        for rule in self.rules:
            if fnmatch.fnmatchcase(namespace, rule.namespace) and fnmatch.fnmatchcase(
                    tag, rule.tag):
                return rule.behaviour
        return from_tag(tag)

    def for_pod(self, pod: dict[str, Any], container: str | None = None) -> Behaviour:
        return self.resolve(pod["metadata"]["namespace"], pod_image(pod, container))


def pod_image(pod: dict[str, Any], container: str | None = None) -> str:
    containers = pod["spec"].get("containers") or [{}]
    chosen = next((c for c in containers if c.get("name") == container), containers[0])
    return str(chosen.get("image", ""))


def _is_error(i: int, errors: int) -> bool:
    """Spread ``errors`` failures evenly over HTTP_LINES requests (exact total)."""
    return (i + 1) * errors // HTTP_LINES > i * errors // HTTP_LINES


def _stamp(when: datetime) -> str:
    # A log read formats a hundred stamps, mostly the same few seconds: format each once.
    return _stamp_second(int(when.timestamp()))


@functools.lru_cache(maxsize=4096)
def _stamp_second(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def http_line(i: int, when: datetime, b: Behaviour) -> str:
    path = _ENDPOINTS[i % len(_ENDPOINTS)]
    method = "POST" if i % 5 == 4 else "GET"
    base = 8 + (i * 37) % 29
    if _is_error(i, round(b.error_rate * HTTP_LINES)):
        ms = round((base + 20) * b.latency_factor)
        return f"{_stamp(when)} ERROR HTTP {method} {path} 500 {ms}ms upstream failed"
    code = 201 if method == "POST" else 200
    return f"{_stamp(when)} INFO HTTP {method} {path} {code} {round(base * b.latency_factor)}ms"


def log_lines(*, started: datetime, now: datetime, behaviour: Behaviour, version: str,
              since: float | None = None) -> list[tuple[datetime, str]]:
    """The container's log since it started: a start-up line, then HTTP_LINES requests
    spread over the window asked for, so any ``--since`` sees the configured rate."""
    start_line = (started, f"{_stamp(started)} INFO server {version} listening on port 3000")
    if not behaviour.starts:
        return [start_line, (started, f"{_stamp(started)} ERROR startup failed: "
                                      "connect ECONNREFUSED database:5432 (exit code 1)")]
    window = max((now - started).total_seconds(), 0.0)
    if since is not None:
        window = min(window, since)
    first = now - timedelta(seconds=window)
    lines = [start_line] if since is None or started >= first else []
    step = window / HTTP_LINES
    for i in range(HTTP_LINES):
        when = first + timedelta(seconds=step * (i + 1))
        lines.append((when, http_line(i, when, behaviour)))
    return lines
