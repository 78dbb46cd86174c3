"""The simulated API server, seen through the official ``kubernetes`` client over HTTP.

Each test gets its own sim (a background thread, started in milliseconds) with short
start-up delays and deadlines scaled down a hundredfold, so controller behaviour that
takes minutes on a real cluster takes a fraction of a second here.
"""

# The client's models make every field Optional; a None here fails the test anyway.
# mypy: disable-error-code="union-attr,index,operator"

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Generator, Iterator
from typing import Any

import aiohttp
import pytest
import requests
from kubernetes import client, watch

from sim.kube.harness import SimHandle, start_sim
from sim.kube.seed import tenant_namespaces, tenant_slugs
from sim.kube.server import running
from sim.kube.watch import Event, Watcher, WatchHub

APP = "isp-ops-app"
IMAGE = "123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac/isp-ops-app"
MERGE = "application/merge-patch+json"


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    with start_sim(tenants=3, ready_delay=0.02, deadline_scale=0.01) as handle:
        yield handle


@pytest.fixture
def api(sim: SimHandle) -> Iterator[client.ApiClient]:
    with client.ApiClient(client.Configuration(host=sim.url)) as api_client:
        yield api_client


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


NS = tenant_namespaces(1)[0]  # tenant-fast-fiber


def set_image(apps: client.AppsV1Api, tag: str, ns: str = NS) -> Any:
    body = {"spec": {"template": {"spec": {"containers": [
        {"name": "frontend", "image": f"{IMAGE}:{tag}"}]}}}}
    return apps.patch_namespaced_deployment(APP, ns, body)


def wait_rolled_out(sim: SimHandle, ns: str = NS) -> None:
    sim.wait_until(lambda: sim.sim.rolled_out(ns, APP), timeout=5)


def api_error(exc: pytest.ExceptionInfo[client.ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.value.body or "{}")
    return body


def watch_events(list_func: Any, *args: Any, **kwargs: Any) -> Generator[dict[str, Any]]:
    """The client's watch stream (its module is untyped)."""
    events: Generator[dict[str, Any]] = watch.Watch().stream(  # type: ignore[no-untyped-call]
        list_func, *args, **kwargs)
    return events


def config_map(name: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name))


# --- seed ----------------------------------------------------------------------------


def test_seed_gives_tenants_rolled_out_at_revision_one(sim: SimHandle, core: client.CoreV1Api,
                                                       apps: client.AppsV1Api) -> None:
    assert tenant_slugs(3) == ["fast-fiber", "metro-link", "skyline-net"]
    assert tenant_slugs(20)[16:18] == ["isp-0017", "isp-0018"]
    listed = core.list_namespace(label_selector="app.kubernetes.io/component in (tenant)")
    assert [n.metadata.name for n in listed.items] == sorted(tenant_namespaces(3))
    assert listed.metadata.resource_version.isdigit()
    others = core.list_namespace(label_selector="!app.kubernetes.io/component")
    assert {n.metadata.name for n in others.items} == {"default", "platform-admin"}
    d = apps.read_namespaced_deployment(APP, NS)
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert d.spec.template.spec.containers[0].image == f"{IMAGE}:v1.2.3"
    assert d.spec.progress_deadline_seconds == 600
    assert (d.status.ready_replicas, d.status.observed_generation) == (1, 1)
    assert core.read_namespaced_config_map("isp-ops-config", NS).data["TENANT_SLUG"] == "fast-fiber"
    svc = core.read_namespaced_service("platform-admin-app", "platform-admin")
    assert svc.spec.selector == {"app": "platform-admin-app", "version": "v1.2.3"}
    assert (svc.spec.ports[0].port, svc.spec.ports[0].target_port) == (80, 3000)
    pod = core.list_namespaced_pod(NS, label_selector=f"app={APP}").items[0]
    assert pod.status.phase == "Running" and pod.status.container_statuses[0].ready


def test_seeding_a_thousand_tenants_is_quick() -> None:
    started = time.monotonic()
    with start_sim(tenants=1000) as big:
        assert time.monotonic() - started < 5.0
        assert big.summary()["objects"]["namespaces"] == 1002


# --- writes: patches, conflicts, errors ----------------------------------------------


def test_strategic_merge_patch_merges_containers_by_name(sim: SimHandle,
                                                         apps: client.AppsV1Api) -> None:
    before = apps.read_namespaced_deployment(APP, NS)
    after = set_image(apps, "v1.3.0")
    container = after.spec.template.spec.containers[0]
    assert container.image == f"{IMAGE}:v1.3.0"
    assert container.env_from[0].config_map_ref.name == "isp-ops-config"  # kept
    assert after.metadata.generation == before.metadata.generation + 1


def test_merge_patch_adds_and_removes_keys(apps: client.AppsV1Api) -> None:
    apps.patch_namespaced_deployment(APP, NS, {"metadata": {"labels": {"tier": "web"}}},
                                     _content_type=MERGE)
    d = apps.patch_namespaced_deployment(APP, NS, {"metadata": {"labels": {"tier": None}}},
                                         _content_type=MERGE)
    assert d.metadata.labels == {"app": APP}
    assert d.metadata.generation == 1  # metadata changes leave the generation alone


def test_json_patch_replaces_and_tests(apps: client.AppsV1Api) -> None:
    ops = [{"op": "replace", "path": "/spec/template/spec/containers/0/image",
            "value": f"{IMAGE}:v1.3.0"},
           {"op": "add", "path": "/metadata/annotations/team~1owner", "value": "isp"}]
    d = apps.patch_namespaced_deployment(APP, NS, ops)
    assert d.spec.template.spec.containers[0].image == f"{IMAGE}:v1.3.0"
    assert d.metadata.annotations["team/owner"] == "isp"
    failing = [{"op": "test", "path": "/spec/replicas", "value": 7}]
    with pytest.raises(client.ApiException) as exc:
        apps.patch_namespaced_deployment(APP, NS, failing)
    assert exc.value.status == 422


def test_stale_resource_version_is_a_conflict(apps: client.AppsV1Api) -> None:
    d = apps.read_namespaced_deployment(APP, NS)
    stale = d.metadata.resource_version
    set_image(apps, "v1.3.0")
    d.spec.replicas = 2
    with pytest.raises(client.ApiException) as exc:
        apps.replace_namespaced_deployment(APP, NS, d)
    status = api_error(exc)
    assert (exc.value.status, status["kind"], status["reason"]) == (409, "Status", "Conflict")
    assert "the object has been modified" in status["message"]
    patch = {"metadata": {"resourceVersion": stale}, "spec": {"replicas": 2}}
    with pytest.raises(client.ApiException) as exc:
        apps.patch_namespaced_deployment(APP, NS, patch)
    assert exc.value.status == 409


def test_errors_are_status_objects(core: client.CoreV1Api, apps: client.AppsV1Api) -> None:
    with pytest.raises(client.ApiException) as exc:
        apps.read_namespaced_deployment("nope", NS)
    assert api_error(exc)["message"] == 'deployments.apps "nope" not found'
    assert api_error(exc)["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}
    with pytest.raises(client.ApiException) as exc:
        core.create_namespaced_config_map(NS, config_map("isp-ops-config"))
    assert (exc.value.status, api_error(exc)["reason"]) == (409, "AlreadyExists")
    bad = client.V1Deployment(metadata=client.V1ObjectMeta(name="x"), spec=client.V1DeploymentSpec(
        selector=client.V1LabelSelector(match_labels={"app": "x"}),
        template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"app": "y"}),
                                          spec=client.V1PodSpec(containers=[
                                              client.V1Container(name="c")]))))
    with pytest.raises(client.ApiException) as exc:
        apps.create_namespaced_deployment(NS, bad)
    status = api_error(exc)
    assert (exc.value.status, status["reason"]) == (422, "Invalid")
    fields = {c["field"] for c in status["details"]["causes"]}
    assert fields == {"spec.template.spec.containers[0].image", "spec.template.metadata.labels"}
    with pytest.raises(client.ApiException) as exc:
        core.create_namespaced_config_map("tenant-nobody", config_map("c"))
    assert api_error(exc)["message"] == 'namespaces "tenant-nobody" not found'


def test_delete_takes_owned_objects_along(sim: SimHandle, core: client.CoreV1Api,
                                          apps: client.AppsV1Api) -> None:
    apps.delete_namespaced_deployment(APP, NS)
    assert sim.list("replicasets", NS) == [] and sim.list("pods", NS) == []
    core.delete_namespace(NS)
    assert sim.get("namespaces", None, NS) is None and sim.list("configmaps", NS) == []


def test_lists_page_with_limit_and_continue(core: client.CoreV1Api) -> None:
    first = core.list_namespace(limit=2)
    rest = core.list_namespace(limit=2, _continue=first.metadata._continue)
    names = [n.metadata.name for n in first.items + rest.items]
    assert len(first.items) == 2 and first.metadata.remaining_item_count == 3
    assert names[:2] == ["default", "platform-admin"] and len(names) == 4


def test_a_deletion_between_pages_skips_no_other_object(
    sim: SimHandle, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    # Given the first page of every deployment across namespaces, in key order
    first = apps.list_deployment_for_all_namespaces(limit=2)
    served = [(d.metadata.namespace, d.metadata.name) for d in first.items]
    assert served == sorted(served)
    every = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in sim.list("deployments")}
    # When one of the served ones is deleted before the next page is asked for
    apps.delete_namespaced_deployment(served[0][1], served[0][0])
    rest = apps.list_deployment_for_all_namespaces(limit=2, _continue=first.metadata._continue)
    more = [(d.metadata.namespace, d.metadata.name) for d in rest.items]
    while rest.metadata._continue:
        rest = apps.list_deployment_for_all_namespaces(limit=2, _continue=rest.metadata._continue)
        more += [(d.metadata.namespace, d.metadata.name) for d in rest.items]
    # Then every other deployment is served once: the cursor is a key, not an offset
    assert sorted(served + more) == sorted(every)


# --- the controller ------------------------------------------------------------------


def test_new_image_rolls_through_a_new_replica_set(sim: SimHandle, apps: client.AppsV1Api,
                                                   core: client.CoreV1Api) -> None:
    set_image(apps, "v1.3.0")
    wait_rolled_out(sim)
    d = apps.read_namespaced_deployment(APP, NS)
    assert d.status.observed_generation == d.metadata.generation == 2
    assert (d.status.updated_replicas, d.status.available_replicas) == (1, 1)
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    progressing = next(c for c in d.status.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason) == ("True", "NewReplicaSetAvailable")
    sets = {rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs
            for rs in apps.list_namespaced_replica_set(NS).items}
    assert (sets["1"].spec.replicas, sets["2"].spec.replicas) == (0, 1)
    new = sets["2"]
    h = new.metadata.labels["pod-template-hash"]
    assert new.metadata.name == f"{APP}-{h}"
    assert new.metadata.owner_references[0].uid == d.metadata.uid
    pods = core.list_namespaced_pod(NS).items
    assert [p.metadata.labels["pod-template-hash"] for p in pods] == [h]
    reasons = [e.message for e in core.list_namespaced_event(NS).items
               if e.reason == "ScalingReplicaSet"]
    assert f"Scaled up replica set {new.metadata.name} to 1" in reasons
    assert f"Scaled down replica set {sets['1'].metadata.name} from 1 to 0" in reasons


def test_undo_reuses_the_old_replica_set_under_the_next_revision(
        sim: SimHandle, apps: client.AppsV1Api) -> None:
    first = apps.list_namespaced_replica_set(NS).items[0]
    set_image(apps, "v1.3.0")
    wait_rolled_out(sim)
    template = (sim.get("replicasets", NS, str(first.metadata.name)) or {})["spec"]["template"]
    del template["metadata"]["labels"]["pod-template-hash"]
    apps.patch_namespaced_deployment(APP, NS, [
        {"op": "replace", "path": "/spec/template", "value": template}])
    wait_rolled_out(sim)
    sets = apps.list_namespaced_replica_set(NS).items
    assert len(sets) == 2
    reused = next(rs for rs in sets if rs.metadata.uid == first.metadata.uid)
    assert reused.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    assert reused.spec.replicas == 1


def test_scale_subresource_resizes_the_deployment(sim: SimHandle, apps: client.AppsV1Api,
                                                  core: client.CoreV1Api) -> None:
    scale = apps.patch_namespaced_deployment_scale(APP, NS, {"spec": {"replicas": 3}})
    assert (scale.kind, scale.spec.replicas, scale.status.selector) == ("Scale", 3, f"app={APP}")
    wait_rolled_out(sim)
    assert len(core.list_namespaced_pod(NS, label_selector=f"app={APP}").items) == 3
    assert len(apps.list_namespaced_replica_set(NS).items) == 1  # same template, same set


def test_crashing_image_exceeds_the_progress_deadline(sim: SimHandle, apps: client.AppsV1Api,
                                                      core: client.CoreV1Api) -> None:
    apps.patch_namespaced_deployment(APP, NS, {"spec": {"progressDeadlineSeconds": 10}})
    set_image(apps, "v1.3.1-crash")  # deadline: 10 s x 0.01

    def timed_out() -> bool:
        d = sim.sim.get("deployments", NS, APP) or {}
        return any(c["reason"] == "ProgressDeadlineExceeded" and c["status"] == "False"
                   for c in d.get("status", {}).get("conditions", []))

    sim.wait_until(timed_out, timeout=5)
    crashing = [p for p in core.list_namespaced_pod(NS).items
                if p.spec.containers[0].image.endswith("crash")]
    state = crashing[0].status.container_statuses[0]
    assert state.state.waiting.reason == "CrashLoopBackOff" and not state.ready
    sim.wait_until(lambda: any(p["status"]["containerStatuses"][0]["restartCount"] >= 2
                               for p in sim.sim.list("pods", NS)), timeout=5)
    d = apps.read_namespaced_deployment(APP, NS)
    assert d.status.available_replicas == 1  # the old pod keeps serving
    assert d.status.unavailable_replicas == 1


# --- watches -------------------------------------------------------------------------


def test_watch_replays_what_came_after_a_resource_version(apps: client.AppsV1Api) -> None:
    listed = apps.list_namespaced_deployment(NS)
    set_image(apps, "v1.3.0")
    stream = watch_events(
        apps.list_namespaced_deployment, NS, resource_version=listed.metadata.resource_version,
        field_selector=f"metadata.name={APP}", timeout_seconds=5)
    first = next(stream)
    stream.close()
    assert first["type"] == "MODIFIED"
    assert first["object"].spec.template.spec.containers[0].image.endswith("v1.3.0")


def test_watch_ends_when_its_timeout_elapses(apps: client.AppsV1Api) -> None:
    started = time.monotonic()
    events = list(watch_events(apps.list_namespaced_deployment, NS,
                                       label_selector="app=nothing", timeout_seconds=1))
    assert events == [] and 0.9 < time.monotonic() - started < 3


def test_watch_without_version_starts_with_current_objects(core: client.CoreV1Api) -> None:
    stream = watch_events(core.list_namespace, timeout_seconds=5,
                                  label_selector="tenant.dotmac.io/slug=metro-link")
    first = next(stream)
    stream.close()
    assert (first["type"], first["object"].metadata.name) == ("ADDED", "tenant-metro-link")


def test_too_old_resource_version_expires() -> None:
    async def scenario() -> bytes:
        hub = WatchHub(history=2)
        for rv in (1, 2, 3, 4):  # keeps 3 and 4: a watch from 1 missed 2
            hub.publish(Event("ADDED", "pods", "ns", rv, {"metadata": {"name": f"p{rv}"}}))
        watcher = Watcher("pods", "ns", None, None)
        hub.open(watcher, since=1, current=list)
        return await watcher.queue.get() or b""

    frame = json.loads(asyncio.run(scenario()))
    assert (frame["type"], frame["object"]["code"], frame["object"]["reason"]) == (
        "ERROR", 410, "Expired")


async def test_a_thousand_watches_see_only_their_namespace() -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with running(tenants=1000) as sim, aiohttp.ClientSession(connector=connector) as http:
        spaces = tenant_namespaces(1000)
        rv = sim.store.rv
        streams = [await http.get(
            f"{sim.url}/apis/apps/v1/namespaces/{ns}/deployments",
            params={"watch": "1", "resourceVersion": str(rv), "timeoutSeconds": "5"})
            for ns in spaces]
        assert sim.store.hub.count() == 1000
        target = spaces[500]
        patch = {"metadata": {"labels": {"touched": "yes"}}}
        async with http.patch(f"{sim.url}/apis/apps/v1/namespaces/{target}/deployments/{APP}",
                              json=patch, headers={"Content-Type": MERGE}) as answer:
            assert answer.status == 200
        line = await asyncio.wait_for(streams[500].content.readline(), 5)
        assert json.loads(line)["object"]["metadata"]["labels"]["touched"] == "yes"
        for quiet in (*streams[:3], *streams[-3:]):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(quiet.content.readline(), 0.05)
        for s in streams:
            s.close()


# --- behaviours, logs, proxy ---------------------------------------------------------


def pod_name(core: client.CoreV1Api, ns: str = NS) -> str:
    return str(core.list_namespaced_pod(ns).items[0].metadata.name)


def raw_get(sim: SimHandle, path: str) -> requests.Response:
    return requests.get(sim.url + path, timeout=5)


def test_proxy_answers_health_and_readiness(sim: SimHandle, core: client.CoreV1Api) -> None:
    pod = pod_name(core)
    base = f"/api/v1/namespaces/{NS}/pods/{pod}"
    health = raw_get(sim, f"{base}:3000/proxy/api/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok", "version": "v1.2.3"})
    assert raw_get(sim, f"{base}/proxy/api/ready").json() == {"ready": True}
    via_service = raw_get(sim, "/api/v1/namespaces/platform-admin/services/"
                               "platform-admin-app:80/proxy/api/health")
    assert via_service.json()["version"] == "v1.2.3"


def test_behaviour_rules_pick_namespaces_and_tags(sim: SimHandle, core: client.CoreV1Api,
                                                  apps: client.AppsV1Api) -> None:
    other = tenant_namespaces(2)[1]
    sim.set_behaviour(other, "v1.3.1", "unhealthy")
    for ns in (NS, other):
        set_image(apps, "v1.3.1", ns)
        wait_rolled_out(sim, ns)
    sick = raw_get(sim, f"/api/v1/namespaces/{other}/pods/{pod_name(core, other)}"
                        ":3000/proxy/api/health")
    assert (sick.status_code, sick.json()["status"]) == (500, "error")
    fine = raw_get(sim, f"/api/v1/namespaces/{NS}/pods/{pod_name(core)}:3000/proxy/api/health")
    assert fine.json() == {"status": "ok", "version": "v1.3.1"}
    sim.set_behaviour(NS, "*", "unready")  # applies to running pods at once
    pod = core.list_namespaced_pod(NS).items[0]
    assert pod.status.phase == "Running" and not pod.status.container_statuses[0].ready
    ready = raw_get(sim, f"/api/v1/namespaces/{NS}/pods/{pod.metadata.name}/proxy/api/ready")
    assert (ready.status_code, ready.json()) == (503, {"ready": False})


def test_logs_carry_the_error_rate_and_latency(sim: SimHandle, core: client.CoreV1Api,
                                               apps: client.AppsV1Api) -> None:
    healthy = core.read_namespaced_pod_log(pod_name(core), NS).splitlines()
    assert sum("HTTP" in line for line in healthy) == 100
    assert not any("ERROR" in line for line in healthy)
    set_image(apps, "v1.3.1-errors20-slow3")
    wait_rolled_out(sim)
    lines = core.read_namespaced_pod_log(pod_name(core), NS, since_seconds=30).splitlines()
    errors = [line for line in lines if "ERROR" in line]
    assert (len(errors), sum("HTTP" in line for line in lines)) == (20, 100)
    assert all(re.fullmatch(r"\S+Z ERROR HTTP (GET|POST) /api/\S+ 500 \d+ms upstream failed", e)
               for e in errors)
    ms = [int(line.split()[6].removesuffix("ms")) for line in lines if " INFO HTTP" in line]
    assert min(ms) >= 24  # baseline 8 ms at least, three times slower
    tail = core.read_namespaced_pod_log(pod_name(core), NS, tail_lines=5, container="frontend")
    assert len(tail.splitlines()) == 5
    with pytest.raises(client.ApiException) as exc:
        core.read_namespaced_pod_log(pod_name(core), NS, container="sidecar")
    assert exc.value.status == 400


# --- faults, counters, access --------------------------------------------------------


def test_faults_fire_before_any_change(sim: SimHandle, apps: client.AppsV1Api) -> None:
    path = f"/apis/apps/v1/namespaces/{NS}/deployments/{APP}$"
    sim.add_fault(path=path, method="PATCH", status=503, times=1)
    with pytest.raises(client.ApiException) as exc:
        set_image(apps, "v1.3.0")
    assert exc.value.status == 503
    assert apps.read_namespaced_deployment(APP, NS).metadata.generation == 1
    assert set_image(apps, "v1.3.0").metadata.generation == 2


def test_rate_limits_latency_every_nth_and_drops(sim: SimHandle) -> None:
    url = f"{sim.url}/api/v1/namespaces/{NS}/configmaps/isp-ops-config"
    sim.add_fault(path="configmaps", status=429, retry_after=3, every=2)
    codes = [requests.get(url, timeout=5) for _ in range(4)]
    assert [r.status_code for r in codes] == [200, 429, 200, 429]
    assert codes[1].headers["Retry-After"] == "3"
    sim.clear_faults()
    sim.add_fault(path="configmaps", action="latency", latency=0.3, times=1)
    started = time.monotonic()
    assert requests.get(url, timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.3
    sim.add_fault(path="/namespaces$", action="drop")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sim.url}/api/v1/namespaces", timeout=5)
    sim.clear_faults()
    sim.add_fault(path="pods", probability=0.5)
    drawn = [requests.get(f"{sim.url}/api/v1/pods", timeout=5).status_code for _ in range(40)]
    assert 5 < drawn.count(500) < 35


def test_counters_tally_verbs_routes_and_namespaces(sim: SimHandle, core: client.CoreV1Api,
                                                    apps: client.AppsV1Api) -> None:
    sim.reset_counters()
    apps.read_namespaced_deployment(APP, NS)
    set_image(apps, "v1.3.0")
    core.list_namespace()
    counts = sim.counters()
    assert counts["total"] == 3
    assert counts["verbs"] == {"get": 1, "patch": 1, "list": 1}
    route = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    assert counts["routes"][route] == {"get": 1, "patch": 1}
    assert counts["namespaces"] == {NS: {"get": 1, "patch": 1}}
    assert counts["paths"][f"/apis/apps/v1/namespaces/{NS}/deployments/{APP}"]["patch"] == 1


def test_a_patch_whose_body_never_arrives_is_neither_counted_nor_applied(
        sim: SimHandle, apps: client.AppsV1Api) -> None:
    # Given a client that sends a PATCH's headers and dies before its body
    sim.reset_counters()
    host, port = sim.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as half:
        half.sendall(f"PATCH /apis/apps/v1/namespaces/{NS}/deployments/{APP} HTTP/1.1\r\n"
                     f"Host: {host}\r\nContent-Type: {MERGE}\r\nContent-Length: 400\r\n"
                     "\r\n".encode())
        time.sleep(0.2)  # the server has the headers and waits for the rest
    time.sleep(0.2)
    # Then the server saw no patch, and the deployment is as it was
    assert sim.counters()["namespaces"] == {}
    assert apps.read_namespaced_deployment(APP, NS).metadata.generation == 1


def test_access_reviews_and_requests_follow_deny_rules(sim: SimHandle,
                                                       api: client.ApiClient) -> None:
    sim.deny_access(namespace=NS, verb="patch", resource="deployments")
    auth = client.AuthorizationV1Api(api)

    def review(ns: str) -> Any:
        attrs = client.V1ResourceAttributes(namespace=ns, verb="patch", group="apps",
                                            resource="deployments")
        body = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs))
        return auth.create_self_subject_access_review(body).status

    assert review(NS).allowed is False and review(NS).denied is True
    assert review(tenant_namespaces(2)[1]).allowed is True
    with pytest.raises(client.ApiException) as exc:
        set_image(client.AppsV1Api(api), "v1.3.0")
    assert (exc.value.status, api_error(exc)["reason"]) == (403, "Forbidden")


def test_control_api_drives_the_sim_over_http(sim: SimHandle) -> None:
    made = requests.post(f"{sim.url}/_sim/faults", json={"path": "pods", "status": 500},
                         timeout=5)
    assert made.status_code == 201 and made.json()["status"] == 500
    assert requests.get(f"{sim.url}/api/v1/pods", timeout=5).status_code == 500
    assert requests.delete(f"{sim.url}/_sim/faults/{made.json()['id']}", timeout=5).ok
    assert requests.get(f"{sim.url}/api/v1/pods", timeout=5).status_code == 200
    rules = requests.post(f"{sim.url}/_sim/behaviours", timeout=5, json={
        "namespace": NS, "tag": "v9*", "behaviour": "errors", "error_rate": 0.3}).json()
    assert rules == [{"namespace": NS, "tag": "v9*", "behaviour": "healthy",
                      "error_rate": 0.3, "latency_factor": 1.0}]
    assert requests.post(f"{sim.url}/_sim/behaviours", json={"behaviour": "sleepy"},
                         timeout=5).status_code == 400
    requests.post(f"{sim.url}/_sim/access", json={"verb": "delete"}, timeout=5)
    assert requests.delete(f"{sim.url}/api/v1/namespaces/{NS}", timeout=5).status_code == 403
    counters = requests.get(f"{sim.url}/_sim/counters", timeout=5).json()
    assert counters["verbs"]["list"] == 2 and counters["verbs"]["delete"] == 1
    state = requests.get(f"{sim.url}/_sim/state", timeout=5).json()
    assert state["objects"]["namespaces"] == 5 and len(state["deployments"]) == 4
    assert all(d["rolled_out"] for d in state["deployments"])
