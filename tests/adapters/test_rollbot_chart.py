"""rollbot's own chart (deploy/chart): it lints, every object it renders is one the
simulated API server accepts in a server-side dry run, its RBAC is deploy/rbac.yaml's,
its default rollbot.yaml is one rollbot reads, and `helm install` runs it on the sim.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bot.config import parse_config
from bot.helm import HelmCli
from sim.kube.harness import SimHandle, start_sim
from sim.kube.resources import resource
from tests.helm_fleet import helm_binary

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "chart"
EVERYTHING = ["--set", "rbac.helmTenants=true", "--set", "slack.botToken=xoxb-1",
              "--set", "slack.appToken=xapp-1", "--set", "slack.signingSecret=s"]


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    with start_sim(tenants=1) as handle:
        yield handle


def rendered(helm: str, *options: str) -> list[dict[str, Any]]:
    out = HelmCli(binary=helm).run(["template", "rollbot", str(CHART), *options],
                                   namespace="rollbot")
    return [doc for doc in yaml.safe_load_all(out) if doc]


def url_of(sim: SimHandle, obj: dict[str, Any]) -> str:
    res = resource(obj["kind"])
    base = f"{sim.url}/{'apis/' + res.group if res.group else 'api'}/{res.version}"
    if res.namespaced:
        base += f"/namespaces/{obj['metadata'].get('namespace', 'rollbot')}"
    return f"{base}/{res.plural}"


def test_the_chart_lints(helm: str) -> None:
    done = subprocess.run([helm, "lint", "--strict", str(CHART), *EVERYTHING],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("options", [[], EVERYTHING], ids=["defaults", "everything-on"])
def test_every_rendered_object_passes_a_server_side_dry_run(
    helm: str, sim: SimHandle, options: list[str]
) -> None:
    # Given the chart rendered, and the namespace it installs into
    objects = rendered(helm, *options)
    requests.post(f"{sim.url}/api/v1/namespaces", json={"metadata": {"name": "rollbot"}},
                  timeout=5).raise_for_status()

    # When each object is sent with dryRun=All, then the server takes it and keeps nothing
    for obj in objects:
        answer = requests.post(url_of(sim, obj), params={"dryRun": "All"}, json=obj, timeout=5)
        assert answer.status_code == 201, (obj["kind"], answer.text)
        where = obj["metadata"].get("namespace", "rollbot") if resource(obj["kind"]).namespaced \
            else None
        assert sim.get(obj["kind"], where, obj["metadata"]["name"]) is None
    kinds = {obj["kind"] for obj in objects}
    assert {"ServiceAccount", "ClusterRole", "RoleBinding", "PersistentVolumeClaim",
            "ConfigMap", "Deployment", "Service"} <= kinds
    assert ("Secret" in kinds) == bool(options)


def test_a_dry_run_refuses_what_the_server_would(sim: SimHandle) -> None:
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": "journal"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    answer = requests.post(f"{sim.url}/api/v1/namespaces/default/persistentvolumeclaims",
                           params={"dryRun": "All"}, json=claim, timeout=5)
    assert answer.status_code == 422 and "spec.resources[storage]" in answer.text


def test_the_charts_rbac_is_deploy_rbac_yaml_s(helm: str) -> None:
    def rules(docs: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
        return {d["metadata"]["name"].removeprefix(prefix): d["rules"]
                for d in docs if d["kind"] in ("ClusterRole", "Role")}

    shipped = [d for d in yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()) if d]
    assert rules(rendered(helm, *EVERYTHING), "rollbot") == rules(shipped, "rollbot")


def test_the_default_configuration_is_one_rollbot_reads() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    config = parse_config(values["config"])
    assert set(config.apps) == {"admin", "isp"}


def test_helm_install_runs_rollbot_on_the_simulated_cluster(helm: str, sim: SimHandle) -> None:
    # When the chart is installed with helm into the simulated cluster
    cli = HelmCli(binary=helm, kubeconfig=str(sim.kubeconfig))
    cli.run(["install", "rollbot", str(CHART), "--create-namespace", *EVERYTHING],
            namespace="rollbot")

    # Then the release is deployed and its Deployment rolls out with its volume and config
    assert cli.status("rollbot", "rollbot").status == "deployed"
    sim.wait_until(lambda: sim.sim.rolled_out("rollbot", "rollbot"), timeout=10)
    assert sim.get("persistentvolumeclaims", "rollbot", "rollbot-journal") is not None
    config = sim.get("configmaps", "rollbot", "rollbot-config")
    assert config is not None and "rollbot.yaml" in config["data"]
    assert sim.get("rolebindings", "platform-admin", "rollbot-blue-green") is not None
