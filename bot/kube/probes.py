"""Health endpoints through the API server's pod proxy, and request counts from pod logs.

Probes go to ``/api/v1/namespaces/NS/pods/POD:PORT/proxy/PATH`` so rollbot needs neither a
port-forward nor cluster DNS. The request is made below the generated API method so that
a 503 from the app is a result to judge, not an exception. Logs are counted the way the
release guide's auto-rollback script does: lines with ``ERROR`` over lines with ``HTTP``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import quote

from bot.kube.client import Kube
from bot.kube.deployments import annotations_of, items_of, live_pods, name_of, pod_state
from bot.kube.errors import CLIENT_ERRORS, translate
from bot.kube.wire import Json, namespaced
from rollout.errors import ClusterError
from rollout.ports import HealthSnapshot, LogStats, ProbeResult

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
# A response time such as "35ms" or "12.5ms", standing alone as a token or after "=".
LATENCY = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)ms\b")
UNREADABLE_LOG = (400, 404)  # container not started yet, or pod gone: nothing to count
Answer = ProbeResult | str | ClusterError  # a probe's result, a log's text, or why it is unread


def _json_body(raw: bytes) -> Mapping[str, object] | None:
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def probe_pod(k: Kube, namespace: str, pod: str, *, port: int, path: str) -> ProbeResult:
    """One GET through the pod proxy; every answer, and every failure, is a result."""
    resource = (
        f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}:{port}"
        f"/proxy/{quote(path.lstrip('/'), safe='/?=&')}"
    )
    started = time.perf_counter()
    try:
        status, raw = k.wire.fetch(resource, timeout=k.timeout, accept="application/json, */*")
    except CLIENT_ERRORS as exc:
        elapsed = (time.perf_counter() - started) * 1000
        error = str(translate(exc, f"GET {path} on {namespace}/{pod}"))
        return ProbeResult(pod=pod, path=path, status=0, body=None, latency_ms=elapsed, error=error)
    elapsed = (time.perf_counter() - started) * 1000
    return ProbeResult(
        pod=pod,
        path=path,
        status=status,
        body=_json_body(raw),
        latency_ms=elapsed,
        error="" if 200 <= status < 300 else f"HTTP {status}",
    )


def probe(k: Kube, namespace: str, deployment: str, *, port: int, path: str) -> list[ProbeResult]:
    return [
        probe_pod(k, namespace, name_of(pod), port=port, path=path)
        for pod in live_pods(k, namespace, deployment)
    ]


def _log_container(pod: Json) -> str | None:
    """The container ``kubectl logs`` would pick: the annotated default, else the first."""
    chosen = annotations_of(pod).get(DEFAULT_CONTAINER)
    if chosen:
        return chosen
    containers = items_of(pod, "spec", "containers")
    return str(containers[0].get("name") or "") if containers else None


def _read_log(k: Kube, namespace: str, pod: Json, *, since_seconds: int) -> str:
    name = name_of(pod)
    query: list[tuple[str, str | int]] = [("sinceSeconds", max(1, since_seconds))]
    if container := _log_container(pod):
        query.append(("container", container))

    def read() -> bytes:
        return k.wire.call(
            "GET",
            namespaced("", namespace, "pods", name) + "/log",
            query=query,
            timeout=k.timeout,
            accept="text/plain, */*",
        )

    try:
        raw = k.retry.call(f"read log of {namespace}/{name}", read, kind="read")
    except ClusterError as err:
        if err.status in UNREADABLE_LOG:
            return ""
        raise
    return raw.decode("utf-8", errors="replace")


def latency_in(line: str) -> float | None:
    """The first response time in `line`, as ``LATENCY`` finds it. The search starts at
    the number before the first "ms" (every match ends in one, so none can start
    earlier): scanning the timestamp's digits first costs a thousand tenants' logs a
    noticeable share of a rollout's CPU."""
    at = line.find("ms")
    if at < 0:
        return None
    start = at
    while start > 0 and (line[start - 1].isdigit() or line[start - 1] == "."):
        start -= 1
    found = LATENCY.search(line, start)
    return float(found.group(1)) if found else None


def count_log(text: str) -> LogStats:
    """HTTP lines, ERROR lines, and the mean of the response times in the HTTP lines."""
    http_lines = error_lines = 0
    latencies: list[float] = []
    for line in text.splitlines():
        if "ERROR" in line:
            error_lines += 1
        if "HTTP" in line:
            http_lines += 1
            latency = latency_in(line)
            if latency is not None:
                latencies.append(latency)
    mean = sum(latencies) / len(latencies) if latencies else None
    return LogStats(http_lines=http_lines, error_lines=error_lines, mean_latency_ms=mean)


def log_stats(k: Kube, namespace: str, deployment: str, *, since_seconds: int) -> LogStats:
    text = "\n".join(
        _read_log(k, namespace, pod, since_seconds=since_seconds)
        for pod in live_pods(k, namespace, deployment)
    )
    return count_log(text)


def health_snapshot(
    k: Kube, namespace: str, deployment: str, *, port: int, paths: Sequence[str], since_seconds: int
) -> HealthSnapshot:
    """Pod states, every pod's answer on each path, and the logs, from one pod listing.
    The probes and the log reads go out at once: one after another they would add
    their round trips to every batch."""
    pods = live_pods(k, namespace, deployment)
    paths = tuple(dict.fromkeys(paths))
    asked = [(path, name_of(pod)) for path in paths for pod in pods]

    def probing(path: str, pod: str) -> Callable[[], Answer]:
        return lambda: probe_pod(k, namespace, pod, port=port, path=path)

    def reading(pod: Json) -> Callable[[], Answer]:
        def read() -> Answer:
            try:
                return _read_log(k, namespace, pod, since_seconds=since_seconds)
            except ClusterError as err:  # the rate goes unjudged; the probes still count
                return err

        return read

    results = k.at_once([probing(path, pod) for path, pod in asked] + [reading(p) for p in pods])
    answers: dict[str, list[ProbeResult]] = {path: [] for path in paths}
    for (path, _), result in zip(asked, results, strict=False):
        if isinstance(result, ProbeResult):
            answers[path].append(result)
    probes = {path: tuple(found) for path, found in answers.items()}
    states = tuple(pod_state(p) for p in pods)
    logs = results[len(asked) :]
    failed = next((r for r in logs if isinstance(r, ClusterError)), None)
    if failed is not None:
        return HealthSnapshot(pods=states, probes=probes, logs=None, log_error=str(failed))
    return HealthSnapshot(pods=states, probes=probes, logs=count_log("\n".join(map(str, logs))))
