"""Rollout waits that stop early: the ``Cluster`` contract's ``fail_fast``, on every
implementation (crash loops end the wait, unready pods still time out); then the real
adapter against the simulated API server (the named pod is a new one, the threshold is the
caller's, old pods are not judged, a quick rollout costs no look, looks are spaced over a
wait in slices), and its judgement of pod states the simulator does not produce (image
pulls, config errors), on pods as the server sends them.
"""

from __future__ import annotations

import re
import time
from typing import Any

from bot.kube.new_pods import judge_pods
from bot.kube.watched import Watched
from rollout.ports import FailFast, RolloutOutcome
from tests.adapters.conftest import ClusterEnv, KubeEnv, MakeKubeEnv
from tests.adapters.test_cluster_contract import APP, CONTAINER, eventually, isp

QUICK_LOOKS = FailFast(first_look_seconds=0.3, look_every_seconds=0.3)


def listings(env: KubeEnv, resource: str) -> int:
    return int(env.sim.counters()["resources"].get(resource, {}).get("list", 0))


def patch(env: ClusterEnv, namespace: str, tag: str) -> int:
    return env.cluster.set_image(namespace, APP, container=CONTAINER, image=isp(tag))


def new_pod_names(env: KubeEnv, namespace: str, tag: str) -> set[str]:
    return {
        pod["metadata"]["name"]
        for pod in env.sim.list("pods", namespace)
        if pod["spec"]["containers"][0]["image"] == isp(tag)
    }


# --- the contract, for every implementation -------------------------------------------------


def crash_loop_found(env: ClusterEnv, namespace: str) -> re.Match[str]:
    """Wait with quick looks on a crash-looping rollout: it fails within seconds, naming the
    pod and how often it restarted, at least as often as the caller's threshold."""
    generation = patch(env, namespace, "v1.3.0-crash")
    started = time.monotonic()
    status = env.cluster.wait_rollout(
        namespace, APP, timeout=60, min_generation=generation, fail_fast=QUICK_LOOKS
    )
    assert status.outcome is RolloutOutcome.FAILING
    assert time.monotonic() - started < 5.0
    found = re.fullmatch(r"pod (\S+): CrashLoopBackOff after (\d+) restarts", status.message)
    assert found is not None, status.message
    assert int(found.group(2)) >= QUICK_LOOKS.crashloop_restarts
    return found


def test_a_crash_looping_rollout_ends_early_naming_a_pod_of_it(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    found = crash_loop_found(cluster_env, ns)
    assert found.group(1) in {p.name for p in cluster_env.cluster.pods(ns, APP)}


def test_unready_pods_still_time_out(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    generation = patch(cluster_env, ns, "v1.3.0-unready")
    status = cluster_env.cluster.wait_rollout(
        ns, APP, timeout=1.5, min_generation=generation, fail_fast=QUICK_LOOKS
    )
    assert status.outcome is RolloutOutcome.TIMED_OUT
    assert status.message.startswith("timed out after 1.5s: ")


# --- the real adapter against the simulator --------------------------------------------------


def test_the_crash_looping_pod_named_is_a_new_one(kube_env: KubeEnv) -> None:
    ns = kube_env.tenants[0]
    found = crash_loop_found(kube_env, ns)
    assert found.group(1) in new_pod_names(kube_env, ns, "v1.3.0-crash")


def test_the_restart_threshold_is_the_callers(kube_env: KubeEnv) -> None:
    ns = kube_env.tenants[0]
    generation = patch(kube_env, ns, "v1.3.0-crash")
    patient = FailFast(crashloop_restarts=1000, first_look_seconds=0.2, look_every_seconds=0.2)
    status = kube_env.cluster.wait_rollout(
        ns, APP, timeout=1.5, min_generation=generation, fail_fast=patient
    )
    assert status.outcome is RolloutOutcome.TIMED_OUT
    assert listings(kube_env, "pods") >= 2  # it did look, and found nothing to give up on


def test_crash_looping_old_pods_are_not_the_new_rollouts_fault(kube_env: KubeEnv) -> None:
    # Given a crash-looping revision still running, replaced by one that never gets ready
    ns, sim = kube_env.tenants[0], kube_env.sim
    patch(kube_env, ns, "v1.3.0-crash")

    def looping() -> bool:
        statuses = [
            cs
            for pod in sim.list("pods", ns)
            for cs in (pod.get("status") or {}).get("containerStatuses") or []
        ]
        return any(cs["restartCount"] >= 3 for cs in statuses)

    eventually(looping)
    generation = patch(kube_env, ns, "v1.3.1-unready")

    # When its rollout is waited on with quick looks, Then only the new pods are judged
    status = kube_env.cluster.wait_rollout(
        ns, APP, timeout=1.5, min_generation=generation, fail_fast=QUICK_LOOKS
    )
    assert status.outcome is RolloutOutcome.TIMED_OUT
    assert new_pod_names(kube_env, ns, "v1.3.0-crash")  # the crashing pods are still there


def test_a_quick_rollout_makes_no_look(kube_env: KubeEnv) -> None:
    ns = kube_env.tenants[0]
    generation = patch(kube_env, ns, "v1.3.0")
    kube_env.sim.reset_counters()
    status = kube_env.cluster.wait_rollout(
        ns, APP, timeout=30, min_generation=generation, fail_fast=FailFast()
    )
    assert status.outcome is RolloutOutcome.COMPLETE
    assert listings(kube_env, "pods") == listings(kube_env, "replicasets") == 0


def test_a_wait_in_slices_spaces_its_looks_over_the_whole_wait(make_kube_env: MakeKubeEnv) -> None:
    env = make_kube_env(tenants=1)
    ns = env.tenants[0]
    generation = patch(env, ns, "v1.3.0-unready")
    looks = FailFast(first_look_seconds=0.8, look_every_seconds=10)
    started = time.monotonic()
    waited = 0.0
    while waited < 1.5:
        status = env.cluster.wait_rollout(
            ns, APP, timeout=0.3, min_generation=generation, fail_fast=looks, waited=waited
        )
        assert status.outcome is RolloutOutcome.TIMED_OUT
        waited = time.monotonic() - started
    # One look 0.8 s into the wait, though no slice lasted that long; the next is 10 s on.
    assert listings(env, "replicasets") == listings(env, "pods") == 1


# --- the judgement, on states the simulator does not make -------------------------------------


def pod(name: str, *, reason: str, restarts: int = 0, init: bool = False) -> dict[str, Any]:
    """A pod as the API server sends it, with one container waiting for `reason`."""
    statuses = [
        {
            "name": "app",
            "image": "x",
            "imageID": "",
            "ready": False,
            "restartCount": restarts,
            "state": {"waiting": {"reason": reason}},
        }
    ]
    key = "initContainerStatuses" if init else "containerStatuses"
    return {"metadata": {"name": name}, "status": {key: statuses}}


def test_image_and_config_errors_fail_after_the_grace_period() -> None:
    watched = Watched(min_generation=2, started=0.0)
    rules = FailFast(stuck_seconds=30)
    stuck = [pod("web-a", reason="Running"), pod("web-b", reason="ImagePullBackOff")]
    assert judge_pods(stuck, watched=watched, fail_fast=rules, now=100.0) == ""
    assert judge_pods(stuck, watched=watched, fail_fast=rules, now=129.0) == ""
    # ErrImagePull and ImagePullBackOff take turns; the container stays stuck throughout.
    pulling = [pod("web-b", reason="ErrImagePull")]
    assert judge_pods(pulling, watched=watched, fail_fast=rules, now=131.0) == (
        "pod web-b: ErrImagePull for 31s"
    )


def test_a_container_that_gets_unstuck_starts_its_grace_over() -> None:
    watched = Watched(min_generation=2, started=0.0)
    rules = FailFast(stuck_seconds=30)
    judge_pods([pod("web-b", reason="CreateContainerConfigError")], watched=watched,
               fail_fast=rules, now=0.0)  # fmt: skip
    judge_pods([pod("web-b", reason="ContainerCreating")], watched=watched, fail_fast=rules,
               now=20.0)  # fmt: skip
    again = [pod("web-b", reason="InvalidImageName")]
    assert judge_pods(again, watched=watched, fail_fast=rules, now=40.0) == ""
    assert judge_pods(again, watched=watched, fail_fast=rules, now=70.0) == (
        "pod web-b: InvalidImageName for 30s"
    )


def test_crash_loops_count_restarts_of_init_containers_too() -> None:
    watched = Watched(min_generation=2, started=0.0)
    rules = FailFast(crashloop_restarts=3)
    young = [pod("web-a", reason="CrashLoopBackOff", restarts=2, init=True)]
    assert judge_pods(young, watched=watched, fail_fast=rules, now=0.0) == ""
    looping = [pod("web-a", reason="CrashLoopBackOff", restarts=3, init=True)]
    assert judge_pods(looping, watched=watched, fail_fast=rules, now=0.0) == (
        "pod web-a: CrashLoopBackOff after 3 restarts"
    )
