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

from kubernetes import client

from bot.kube.client import Kube
from bot.kube.deployments import list_all, meta, revision_of
from bot.kube.history import owned_replica_sets
from bot.kube.seen import selector_string
from bot.kube.watched import Watched
from rollout.errors import RollbotError
from rollout.ports import FailFast

log = logging.getLogger("rollbot.kube")

CRASH_LOOP = "CrashLoopBackOff"
# Waiting reasons that seldom clear up by themselves: the image or its config is wrong.
STUCK_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName"}
)


def observed(dep: client.V1Deployment, min_generation: int) -> bool:
    """The controller has seen the change, so its newest ReplicaSet is the one waited on."""
    status = dep.status or client.V1DeploymentStatus()
    return (status.observed_generation or 0) >= max(meta(dep).generation or 0, min_generation)


def look(k: Kube, dep: client.V1Deployment, watched: Watched, fail_fast: FailFast) -> str:
    """Why the new pods cannot succeed ("pod x: CrashLoopBackOff after 3 restarts"), or
    "". A look that fails says nothing: the wait goes on as it would have without it."""
    watched.last_look = time.monotonic()
    if not observed(dep, watched.min_generation):
        return ""
    md = meta(dep)
    try:
        if not watched.selector or watched.generation != (md.generation or 0):
            watched.selector = _new_pods_selector(k, dep)
            watched.generation = md.generation or 0
        if not watched.selector:
            return ""
        pods = list_all(
            k,
            f"list new pods of {md.namespace}/{md.name}",
            k.core.list_namespaced_pod,
            namespace=md.namespace or "",
            label_selector=watched.selector,
        )
    except RollbotError as err:
        log.info("could not look at the new pods of %s/%s: %s", md.namespace, md.name, err)
        return ""
    alive = sorted(
        (p for p in pods if meta(p).deletion_timestamp is None), key=lambda p: meta(p).name or ""
    )
    return judge_pods(alive, watched=watched, fail_fast=fail_fast, now=time.monotonic())


def _new_pods_selector(k: Kube, dep: client.V1Deployment) -> str:
    owned = [rs for rs in owned_replica_sets(k, dep) if revision_of(rs) > 0]
    if not owned:
        return ""
    newest = max(owned, key=revision_of)
    # The ReplicaSet's selector is the deployment's plus its pod-template-hash.
    return selector_string(newest.spec.selector if newest.spec else None)


def judge_pods(
    pods: list[client.V1Pod], *, watched: Watched, fail_fast: FailFast, now: float
) -> str:
    """The first container found in a state that will not get better, described; the
    first sighting of each container stuck on its image or config is noted in `watched`."""
    stuck: dict[str, float] = {}
    found = ""
    for pod in pods:
        status = pod.status or client.V1PodStatus()
        statuses = [*(status.init_container_statuses or []), *(status.container_statuses or [])]
        for cs in statuses:
            waiting = cs.state.waiting if cs.state else None
            reason = str(waiting.reason or "") if waiting else ""
            where = _where(pod, cs, several=len(statuses) > 1)
            restarts = cs.restart_count or 0
            if reason == CRASH_LOOP and restarts >= fail_fast.crashloop_restarts:
                found = found or f"{where}: {CRASH_LOOP} after {restarts} restarts"
            elif reason in STUCK_REASONS:
                key = f"{meta(pod).name}/{cs.name}"
                since = stuck[key] = watched.stuck.get(key, now)
                if now - since >= fail_fast.stuck_seconds:
                    found = found or f"{where}: {reason} for {now - since:.0f}s"
    watched.stuck = stuck  # a container no longer stuck starts over if it is stuck again
    return found


def _where(pod: client.V1Pod, cs: client.V1ContainerStatus, *, several: bool) -> str:
    name = f"pod {meta(pod).name}"
    return f"{name} (container {cs.name})" if several else name
