"""The Helm adapter: a real `helm` binary against the simulated cluster, over HTTP.

Each test starts from the session's fleet of tenants installed by real `helm install`
(tests/helm_fleet.py), so what it reads back is what Helm itself wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.helm import HelmCli, HelmError, ReleaseNotFound
from sim.kube.harness import SimHandle
from sim.kube.seed import REGISTRY
from tests.helm_fleet import CHART, INSTALLED, Fleet, mark_pending

NS, RELEASE = "tenant-fast-fiber", "fast-fiber-isp"


@pytest.fixture
def sim(helm_fleet: Fleet) -> Iterator[SimHandle]:
    with helm_fleet.start() as handle:
        yield handle


@pytest.fixture
def helm(sim: SimHandle, helm_fleet: Fleet) -> HelmCli:
    return HelmCli(binary=helm_fleet.helm, kubeconfig=str(sim.kubeconfig), timeout=30)


def image(sim: SimHandle, namespace: str = NS) -> str:
    found = sim.get("deployments", namespace, "isp-ops-app")
    assert found is not None
    return str(found["spec"]["template"]["spec"]["containers"][0]["image"])


def test_an_installed_release_reads_as_deployed_at_revision_one(helm: HelmCli) -> None:
    current = helm.status(NS, RELEASE)
    assert (current.revision, current.status, current.pending) == (1, "deployed", False)
    assert current.value("tenant.slug") == "fast-fiber"
    assert current.value("image.tag") is None  # the chart's default, not a given value


def test_an_upgrade_sets_the_version_and_makes_one_revision(
    helm: HelmCli, sim: SimHandle
) -> None:
    # When the release is upgraded with the version at image.tag
    revision = helm.upgrade(NS, RELEASE, chart=str(CHART), values={"image.tag": "v1.3.1"},
                            description="rollbot #7: image.tag=v1.3.1")

    # Then it is at revision 2 with that value, its other values kept, the Deployment on it
    assert revision == 2
    current = helm.status(NS, RELEASE)
    assert (current.value("image.tag"), current.value("tenant.slug")) == ("v1.3.1", "fast-fiber")
    assert current.description == "rollbot #7: image.tag=v1.3.1"
    assert image(sim) == f"{REGISTRY}/isp-ops-app:v1.3.1"
    assert [(r.revision, r.status) for r in helm.history(NS, RELEASE)] == [
        (1, "superseded"), (2, "deployed")]
    # and each revision's values read as it ran, the chart's defaults under those given
    images: list[Any] = [helm.values(NS, RELEASE, revision=n)["image"] for n in (1, 2)]
    assert [values["tag"] for values in images] == [INSTALLED, "v1.3.1"]


def test_a_rollback_returns_to_the_revision_as_a_new_one(helm: HelmCli, sim: SimHandle) -> None:
    helm.upgrade(NS, RELEASE, chart=str(CHART), values={"image.tag": "v1.3.1"}, description="up")

    assert helm.rollback(NS, RELEASE, revision=1) == 3

    current = helm.status(NS, RELEASE)
    assert (current.status, current.description) == ("deployed", "Rollback to 1")
    assert image(sim) == f"{REGISTRY}/isp-ops-app:{INSTALLED}"


def test_a_missing_release_is_named(helm: HelmCli) -> None:
    with pytest.raises(ReleaseNotFound, match="no Helm release nope-isp in tenant-fast-fiber"):
        helm.status(NS, "nope-isp")
    with pytest.raises(ReleaseNotFound):
        helm.history(NS, "nope-isp")


def test_a_pending_release_reads_as_pending(helm: HelmCli, sim: SimHandle) -> None:
    mark_pending(sim, NS, RELEASE)
    current = helm.status(NS, RELEASE)
    assert (current.status, current.pending) == ("pending-upgrade", True)


def test_helm_failures_keep_helms_own_words(helm: HelmCli) -> None:
    with pytest.raises(HelmError, match=r"helm show chart.*not found"):
        helm.check_chart("/no/such/chart")
    with pytest.raises(HelmError, match="release has no 99 version"):
        helm.rollback(NS, RELEASE, revision=99)
    with pytest.raises(HelmError, match="there is no helm binary 'no-such-helm'"):
        HelmCli(binary="no-such-helm").status(NS, RELEASE)


def test_the_guide_s_ingress_is_rendered_and_served_when_enabled(
    helm: HelmCli, sim: SimHandle
) -> None:
    helm.upgrade(NS, RELEASE, chart=str(CHART), description="ingress on",
                 values={"ingress.enabled": "true", "ingress.host": "fast-fiber.isp.dotmac.com"})
    ingress = sim.get("ingresses", NS, "isp-ops-app")
    assert ingress is not None
    assert ingress["spec"]["rules"][0]["host"] == "fast-fiber.isp.dotmac.com"
