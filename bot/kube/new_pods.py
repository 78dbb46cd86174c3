"""Looks at a rollout's new pods while it is waited on, to stop waiting on a lost cause.

``kubectl rollout status`` waits out the progress deadline even when the kubelet already
says why the new pods will never become ready. While a rollout is unfinished, the wait in
:mod:`bot.kube.rollout_wait` asks here, now and then, whether a container of the new
ReplicaSet's pods (the old ones are fine and say nothing) crash-loops past a number of
restarts or has waited on its image or config for longer than a grace period.

Looks cost requests, so they come late and seldom (see :class:`rollout.ports.FailFast`):
a rollout that completes before the first look makes none. The first look finds the new
ReplicaSet (the one with the highest revision, as the deployment controller numbers them)
and remembers its pod selector; later looks in the same wait list its pods only. What one
wait learnt is kept between the calls a caller makes when it waits in slices.
"""

from __future__ import annotations

import logging
import time

from bot.kube.client import Kube
from bot.kube.deployments import (
    container_statuses,
    dig,
    meta,
    name_of,
    number,
    pods_matching,
    revision_of,
)
from bot.kube.history import owned_replica_sets
from bot.kube.seen import selector_string
from bot.kube.watched import Watched
from bot.kube.wire import Json
from rollout.errors import RollbotError
from rollout.ports import FailFast

log = logging.getLogger("rollbot.kube")

CRASH_LOOP = "CrashLoopBackOff"
# Waiting reasons that seldom clear up by themselves: the image or its config is wrong.
STUCK_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName"}
)


def observed(dep: Json, min_generation: int) -> bool:
    """The controller has seen the change, so its newest ReplicaSet is the one waited on."""
    generation = number(dep, "metadata", "generation")
    return number(dep, "status", "observedGeneration") >= max(generation, min_generation)


def look(k: Kube, dep: Json, watched: Watched, fail_fast: FailFast) -> str:
    """Why the new pods cannot succeed ("pod x: CrashLoopBackOff after 3 restarts"), or
    "". A look that fails says nothing: the wait goes on as it would have without it."""
    watched.last_look = time.monotonic()
    if not observed(dep, watched.min_generation):
        return ""
    namespace, name = str(meta(dep).get("namespace") or ""), name_of(dep)
    generation = number(dep, "metadata", "generation")
    try:
        if not watched.selector or watched.generation != generation:
            watched.selector = _new_pods_selector(k, dep)
            watched.generation = generation
        if not watched.selector:
            return ""
        pods = pods_matching(
            k, namespace, watched.selector, what=f"list new pods of {namespace}/{name}"
        )
    except RollbotError as err:
        log.info("could not look at the new pods of %s/%s: %s", namespace, name, err)
        return ""
    return judge_pods(pods, watched=watched, fail_fast=fail_fast, now=time.monotonic())


def _new_pods_selector(k: Kube, dep: Json) -> str:
    owned = [rs for rs in owned_replica_sets(k, dep) if revision_of(rs) > 0]
    if not owned:
        return ""
    newest = max(owned, key=revision_of)
    # The ReplicaSet's selector is the deployment's plus its pod-template-hash.
    return selector_string(dig(newest, "spec", "selector"))


def judge_pods(pods: list[Json], *, watched: Watched, fail_fast: FailFast, now: float) -> str:
    """The first container found in a state that will not get better, described; the
    first sighting of each container stuck on its image or config is noted in `watched`."""
    stuck: dict[str, float] = {}
    found = ""
    for pod in pods:
        statuses = container_statuses(pod)
        for cs in statuses:
            reason = str(dig(cs, "state", "waiting", "reason") or "")
            where = _where(pod, cs, several=len(statuses) > 1)
            restarts = number(cs, "restartCount")
            if reason == CRASH_LOOP and restarts >= fail_fast.crashloop_restarts:
                found = found or f"{where}: {CRASH_LOOP} after {restarts} restarts"
            elif reason in STUCK_REASONS:
                key = f"{name_of(pod)}/{cs.get('name')}"
                since = stuck[key] = watched.stuck.get(key, now)
                if now - since >= fail_fast.stuck_seconds:
                    found = found or f"{where}: {reason} for {now - since:.0f}s"
    watched.stuck = stuck  # a container no longer stuck starts over if it is stuck again
    return found


def _where(pod: Json, cs: Json, *, several: bool) -> str:
    name = f"pod {name_of(pod)}"
    return f"{name} (container {cs.get('name')})" if several else name
