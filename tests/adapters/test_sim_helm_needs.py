"""What real Helm 3 needs of the simulated API server, each piece on its own.

Found by running helm against the sim (tests/adapters/test_helm.py runs the whole of it):
`helm install` downloads the OpenAPI v3 documents first, keeps its releases in Secrets
it lists by label, and writes those Secrets with Kubernetes protobuf bodies.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import requests
from kubernetes import client

from sim.kube.harness import SimHandle, start_sim

NS = "tenant-fast-fiber"
PROTOBUF = "application/vnd.kubernetes.protobuf"


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    with start_sim(tenants=1) as handle:
        yield handle


@pytest.fixture
def core(sim: SimHandle) -> Iterator[client.CoreV1Api]:
    with client.ApiClient(client.Configuration(host=sim.url)) as api:
        yield client.CoreV1Api(api)


# --- a few lines of protobuf, written as client-go writes it -------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _entry(number: int, key: str, value: bytes) -> bytes:
    return _field(number, _field(1, key.encode()) + _field(2, value))


def protobuf_secret(name: str, labels: dict[str, str], data: dict[str, bytes]) -> bytes:
    meta = _field(1, name.encode()) + b"".join(
        _entry(11, k, v.encode()) for k, v in labels.items())
    secret = _field(1, meta) + b"".join(_entry(2, k, v) for k, v in data.items())
    secret += _field(3, b"helm.sh/release.v1")
    type_meta = _field(1, b"v1") + _field(2, b"Secret")
    return b"k8s\x00" + _field(1, type_meta) + _field(2, secret)


# --- tests ----------------------------------------------------------------------------------


def test_openapi_v3_lists_each_group_version_and_its_writes(sim: SimHandle) -> None:
    # When helm reads the index, then a group-version's document
    index = requests.get(f"{sim.url}/openapi/v3", timeout=5).json()
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    doc = requests.get(f"{sim.url}{url}", timeout=5).json()

    # Then the document lists the deployment writes with the kind and fieldValidation
    assert set(index["paths"]) >= {"api/v1", "apis/apps/v1"}
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps", "version": "v1", "kind": "Deployment"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert requests.get(f"{sim.url}/openapi/v3/apis/nope/v1", timeout=5).status_code == 404


def test_a_secret_written_in_protobuf_is_stored_and_listed_by_label(
    sim: SimHandle, core: client.CoreV1Api
) -> None:
    # When a Secret arrives as a protobuf body, as Helm's release records do
    body = protobuf_secret("sh.helm.release.v1.fast-fiber-isp.v1",
                           {"owner": "helm", "name": "fast-fiber-isp", "status": "deployed"},
                           {"release": b"H4sI-record"})
    answer = requests.post(f"{sim.url}/api/v1/namespaces/{NS}/secrets", data=body,
                           headers={"Content-Type": PROTOBUF}, timeout=5)

    # Then it is stored as JSON would have stored it, and found by Helm's selector
    assert answer.status_code == 201, answer.text
    found = core.list_namespaced_secret(NS, label_selector="name=fast-fiber-isp,owner=helm")
    (secret,) = found.items
    assert secret.type == "helm.sh/release.v1"
    assert base64.b64decode(secret.data["release"]) == b"H4sI-record"
    assert not core.list_namespaced_secret(NS, label_selector="owner=someone-else").items


def test_a_protobuf_body_of_another_kind_is_still_refused(sim: SimHandle) -> None:
    body = b"k8s\x00" + _field(1, _field(1, b"v1") + _field(2, b"ConfigMap"))
    answer = requests.post(f"{sim.url}/api/v1/namespaces/{NS}/configmaps", data=body,
                           headers={"Content-Type": PROTOBUF}, timeout=5)
    assert answer.status_code == 415


def test_string_data_is_folded_into_data(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret(NS, client.V1Secret(
        metadata=client.V1ObjectMeta(name="slack"), string_data={"token": "xoxb-1"}))
    stored = core.read_namespaced_secret("slack", NS)
    assert (stored.type, stored.string_data) == ("Opaque", None)
    assert base64.b64decode(stored.data["token"]) == b"xoxb-1"


def test_a_sim_started_from_a_snapshot_holds_what_the_first_held(
    sim: SimHandle, core: client.CoreV1Api
) -> None:
    # Given a change to the first sim, then a snapshot of it
    core.create_namespaced_config_map(NS, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="extra"), data={"a": "1"}))
    snapshot = sim.snapshot()

    # When another sim starts from the snapshot
    with start_sim(snapshot=snapshot) as copy:
        # Then it holds the same objects, its deployments settled, and goes on from there
        assert copy.get("configmaps", NS, "extra") == sim.get("configmaps", NS, "extra")
        assert copy.rolled_out(NS, "isp-ops-app")
        assert copy.summary()["resourceVersion"] == sim.summary()["resourceVersion"]
