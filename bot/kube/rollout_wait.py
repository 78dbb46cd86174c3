"""``kubectl rollout status`` by watch: wait until a deployment is rolled out, or is not.

The state to start from, and the resourceVersion to watch from, is the one a patch of this
adapter's just answered with (or the last one an unfinished wait saw) when the caller waits
for that change; otherwise one initial read gives it. Each watch asks
the server to end it (``timeoutSeconds``) no later than our own deadline and carries a
client read timeout too, so a silent server cannot hold us. A stream that ends or drops is
re-opened from the last resourceVersion; 410 Gone means that version is too old, so we
read afresh. Consecutive transport failures are bounded by the retry policy.

In a large rollout the shared view of its deployments (see :mod:`bot.kube.pod_view`)
stands in for the watch: one stream for every tenant's wait instead of one each.

With ``fail_fast`` the wait also ends, as FAILING, when a look at the new pods finds one
that will not come up (see :mod:`bot.kube.new_pods`); each watch session then ends in time
for the next look.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.kube import new_pods
from bot.kube.client import Kube
from bot.kube.deployments import (
    deployment_path,
    dig,
    get_deployment,
    items_of,
    meta,
    name_of,
    number,
)
from bot.kube.errors import CLIENT_ERRORS, GONE, status_of, translate, watch_error
from bot.kube.seen import version_of
from bot.kube.shared_view import GONE_OBJECT
from bot.kube.watched import Watched
from bot.kube.wire import Json
from rollout.errors import NotFound, TransientClusterError
from rollout.ports import FailFast, RolloutOutcome, RolloutStatus

MAX_WATCH_SECONDS = 300  # the server closes long watches anyway; re-watching is cheap
READ_GRACE = 1.0  # past timeoutSeconds, the client gives the server this long to end a watch
DEADLINE_SLACK = 0.05  # a silent watch is cut this long after our own deadline
QUICK_END = 0.5  # a watch that ends sooner than this is followed by a short pause


def verdict(dep: Json, *, min_generation: int = 0) -> tuple[bool, RolloutStatus]:
    """(finished, status) exactly as ``kubectl rollout status`` decides it."""
    name = name_of(dep)
    waiting = RolloutOutcome.TIMED_OUT  # what a wait that stops here would have to say
    observed = number(dep, "status", "observedGeneration")
    if observed < max(number(dep, "metadata", "generation"), min_generation):
        return False, RolloutStatus(waiting, "Waiting for deployment spec update to be observed...")
    for cond in items_of(dep, "status", "conditions"):
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return True, RolloutStatus(
                RolloutOutcome.DEADLINE_EXCEEDED,
                f'deployment "{name}" exceeded its progress deadline',
            )
    replicas = dig(dep, "spec", "replicas")
    desired = replicas if isinstance(replicas, int) else 1
    updated = number(dep, "status", "updatedReplicas")
    prefix = f'Waiting for deployment "{name}" rollout to finish:'
    if updated < desired:
        message = f"{prefix} {updated} out of {desired} new replicas have been updated..."
        return False, RolloutStatus(waiting, message)
    current = number(dep, "status", "replicas")
    if current > updated:
        message = f"{prefix} {current - updated} old replicas are pending termination..."
        return False, RolloutStatus(waiting, message)
    available = number(dep, "status", "availableReplicas")
    if available < updated:
        message = f"{prefix} {available} of {updated} updated replicas are available..."
        return False, RolloutStatus(waiting, message)
    done = f'deployment "{name}" successfully rolled out'
    return True, RolloutStatus(RolloutOutcome.COMPLETE, done)


class _Expired(Exception):
    """The watched resourceVersion is gone from the server's history (410)."""


def _events(k: Kube, dep: Json, *, seconds: float) -> Iterator[Json]:
    """Deployment states from one watch session; returns when the server ends it."""
    md = meta(dep)
    namespace, name = str(md.get("namespace") or ""), str(md.get("name") or "")
    server_seconds = max(1, min(MAX_WATCH_SECONDS, math.ceil(seconds)))
    # The read timeout ends a silent watch at our deadline, not at the server's rounded-up
    # timeoutSeconds; for long waits the server's own end comes first.
    read_timeout = min(seconds + DEADLINE_SLACK, server_seconds + READ_GRACE)
    query: list[tuple[str, str | int]] = [
        ("watch", "true"),
        ("fieldSelector", f"metadata.name={name}"),
        ("timeoutSeconds", server_seconds),
        ("allowWatchBookmarks", "false"),
    ]
    if md.get("resourceVersion"):
        query.append(("resourceVersion", str(md["resourceVersion"])))
    stream = k.wire.stream(
        deployment_path(namespace),
        query=query,
        timeout=(k.policy.connect_timeout, read_timeout),
    )
    with contextlib.closing(stream):
        for event in stream:
            kind, obj = event.get("type"), event.get("object")
            if kind == "ERROR":
                raise watch_error(obj)
            if kind == "DELETED" and name_of(obj) == name:
                k.seen.forget(namespace, name)
                raise NotFound(f"deployment {namespace}/{name} was deleted during the rollout")
            # The name check covers a server that ignores the field selector.
            if kind in ("ADDED", "MODIFIED") and name_of(obj) == name and isinstance(obj, dict):
                yield obj


@dataclass
class _Followed:
    """The latest state seen of the deployment being waited on, kept across watch sessions
    and through their failures, so a wait that ends says where the rollout had got to."""

    state: Any


def _session(
    k: Kube, followed: _Followed, *, deadline: float, min_generation: int
) -> RolloutStatus | None:
    """Follow the deployment from the state followed until `deadline`, in the shared view
    of the deployments of a large rollout when there is one, else by a watch of its own;
    the final status if one was reached."""
    name = name_of(followed.state)
    view = k.pod_views.deployments(name) if k.pod_views is not None else None
    if view is None or version_of(followed.state) <= 0:
        return _watch_session(k, followed, deadline=deadline, min_generation=min_generation)
    namespace = str(meta(followed.state).get("namespace") or "")
    while True:
        than, left = version_of(followed.state), deadline - time.monotonic()
        found = view.newer(namespace, name, than=than, timeout=left)
        if found is None:
            return None  # the deadline, or the view is gone: the caller goes on without
        if found is GONE_OBJECT:
            k.seen.forget(namespace, name)
            raise NotFound(f"deployment {namespace}/{name} was deleted during the rollout")
        followed.state = found
        done, status = verdict(found, min_generation=min_generation)
        if done:
            return status


def _watch_session(
    k: Kube, followed: _Followed, *, deadline: float, min_generation: int
) -> RolloutStatus | None:
    """Follow one watch from the state followed; the final status if one was reached."""
    dep = followed.state
    what = f"watch deployment {meta(dep).get('namespace')}/{name_of(dep)}"
    try:
        for obj in _events(k, dep, seconds=max(0.0, deadline - time.monotonic())):
            followed.state = obj
            done, status = verdict(obj, min_generation=min_generation)
            if done:
                return status
            if time.monotonic() >= deadline:
                break
    except CLIENT_ERRORS as exc:
        if status_of(exc) == GONE:
            raise _Expired from exc
        raise translate(exc, what) from exc
    return None


@dataclass
class _Looks:
    """When and how to look at the new pods during one wait; never, without `fail_fast`."""

    k: Kube
    fail_fast: FailFast | None
    watched: Watched | None

    def next_at(self) -> float:
        if self.fail_fast is None or self.watched is None:
            return math.inf
        return self.watched.next_look(self.fail_fast)

    def failing(self, state: Any) -> RolloutStatus | None:
        if self.fail_fast is None or self.watched is None or time.monotonic() < self.next_at():
            return None
        found = new_pods.look(self.k, state, self.watched, self.fail_fast)
        return RolloutStatus(RolloutOutcome.FAILING, found) if found else None


def wait_rollout(
    k: Kube,
    namespace: str,
    name: str,
    *,
    timeout: float,
    min_generation: int = 0,
    fail_fast: FailFast | None = None,
    waited: float = 0.0,
) -> RolloutStatus:
    watched = None
    if fail_fast is not None:
        watched = k.watches.begin(namespace, name, min_generation=min_generation, waited=waited)
    looks = _Looks(k, fail_fast, watched)
    status = _follow(
        k, namespace, name, timeout=timeout, min_generation=min_generation, looks=looks
    )
    if watched is not None and status.outcome is not RolloutOutcome.TIMED_OUT:
        k.watches.end(namespace, name)  # this wait is over; a timed-out one may go on
    return status


def _ended(k: Kube, followed: _Followed, status: RolloutStatus) -> RolloutStatus:
    """The wait's verdict; the state it was reached on is noted, so that the checks which
    follow read pods at least as new as it (see :mod:`bot.kube.pod_view`)."""
    k.seen.note(followed.state)
    return status


def _follow(
    k: Kube, namespace: str, name: str, *, timeout: float, min_generation: int, looks: _Looks
) -> RolloutStatus:
    deadline = time.monotonic() + timeout
    kept = k.seen.take(namespace, name, min_generation=min_generation)
    followed = _Followed(kept if kept is not None else get_deployment(k, namespace, name))
    failures = 0
    while True:
        done, status = verdict(followed.state, min_generation=min_generation)
        if done:
            return _ended(k, followed, status)
        if time.monotonic() >= deadline:
            k.seen.keep(followed.state)  # a wait on the same change goes on from here
            return RolloutStatus(
                RolloutOutcome.TIMED_OUT, f"timed out after {timeout:g}s: {status.message}"
            )
        failing = looks.failing(followed.state)
        if failing is not None:
            k.seen.keep(followed.state)
            return failing
        # A watch session ends in time for the next look at the new pods.
        until = min(deadline, looks.next_at())
        started = time.monotonic()
        try:
            final = _session(k, followed, deadline=until, min_generation=min_generation)
            failures = 0
        except _Expired:
            followed.state = get_deployment(k, namespace, name)
            continue
        except TransientClusterError:
            if time.monotonic() >= until:
                continue  # our own read timeout at the session's end, not a failure
            failures += 1
            if failures >= max(1, k.policy.attempts):
                raise
            k.retry.again("watch", min(k.policy.backoff(failures - 1), deadline - time.monotonic()))
            followed.state = get_deployment(k, namespace, name)
            continue
        if final is not None:
            return _ended(k, followed, final)
        if time.monotonic() - started < QUICK_END and time.monotonic() < until:
            # A server that keeps ending watches at once must not turn this into a busy loop.
            k.retry.pause(min(k.policy.base_delay, max(0.0, until - time.monotonic())))
