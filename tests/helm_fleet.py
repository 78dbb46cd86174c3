"""A fleet of Helm-managed tenants on the simulated cluster, for the helm tests.

Real `helm install` of the guide's `isp-ops-tenant` chart (tests/fixtures/charts) into
every tenant namespace of a sim, once per test session; each test then starts its own sim
from a snapshot of that one, so it begins with exactly what `helm install` left (release
Secrets, Deployments, ReplicaSets, ready pods) without paying for the installs again.
Measured on the 2-core machine: the 20 installs take 2.5-4 s once a session (one helm
process is about 0.12 s); a sim started from the snapshot, about 10 ms a test.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.helm import HelmCli
from sim.kube.harness import SimHandle, start_sim
from sim.kube.resources import BY_PLURAL
from sim.kube.seed import tenant_slugs
from sim.kube.store import Snapshot

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "tests" / "fixtures" / "charts" / "isp-ops-tenant"
FLEET = 20  # tenants the session's fleet has; a test may use the first few only
INSTALLED = "v1.2.3"  # the chart's image.tag


def helm_binary() -> str:
    """`ROLLBOT_HELM`, else the helm scripts/setup put beside the test's Python or in the
    repository's .venv, else one on PATH."""
    candidates = [
        os.environ.get("ROLLBOT_HELM", ""),
        str(Path(sys.executable).parent / "helm"),
        str(ROOT / ".venv" / "bin" / "helm"),
        shutil.which("helm") or "",
    ]
    for found in candidates:
        if found and os.access(found, os.X_OK):
            return found
    pytest.fail("no helm binary: run scripts/setup (it installs one into .venv/bin)")


@dataclass(frozen=True)
class Fleet:
    """What every helm test starts from: the sim's contents after the installs."""

    snapshot: Snapshot
    namespaces: tuple[str, ...]
    helm: str

    def start(self, kubeconfig: Path | None = None) -> SimHandle:
        """A new sim holding the installed fleet."""
        return start_sim(snapshot=self.snapshot, ready_delay=0.05, kubeconfig_path=kubeconfig)


def install(helm: HelmCli, namespace: str, slug: str, index: int) -> None:
    helm.run(
        ["install", f"{slug}-isp", str(CHART),
         "--set", f"tenant.slug={slug},tenant.id={slug}-isp-{100 + index}",
         "--set-string", f"tenant.name={slug.replace('-', ' ').title()} ISP",
         "--set", f"config.apiBaseUrl=https://api.{slug}.isp.dotmac.com"],
        namespace=namespace,
    )


@pytest.fixture(scope="session")
def helm_fleet() -> Iterator[Fleet]:
    binary = helm_binary()
    with start_sim(tenants=FLEET, apps=False) as sim:
        helm = HelmCli(binary=binary, kubeconfig=str(sim.kubeconfig))
        slugs = tenant_slugs(FLEET)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(install, [helm] * FLEET, [f"tenant-{s}" for s in slugs], slugs,
                          range(FLEET)))
        sim.wait_until(lambda: all(
            sim.sim.rolled_out(f"tenant-{s}", "isp-ops-app") for s in slugs), timeout=30)
        yield Fleet(sim.snapshot(), tuple(f"tenant-{s}" for s in slugs), binary)


def release_record(sim: SimHandle, namespace: str, release: str) -> tuple[str, dict[str, Any]]:
    """The Secret name and the decoded record of a release's latest revision, as Helm
    keeps it: base64 of gzipped JSON, inside the Secret's (base64) data."""
    secrets = [s for s in sim.list("secrets", namespace)
               if (s["metadata"].get("labels") or {}).get("name") == release]
    latest = max(secrets, key=lambda s: int(s["metadata"]["labels"]["version"]))
    packed = base64.b64decode(base64.b64decode(latest["data"]["release"]))
    return latest["metadata"]["name"], json.loads(gzip.decompress(packed))


def mark_pending(sim: SimHandle, namespace: str, release: str) -> None:
    """Leave the release's latest revision `pending-upgrade`, as a helm process killed
    half-way through an upgrade does."""
    mark(sim, namespace, release, "pending-upgrade")


def mark(sim: SimHandle, namespace: str, release: str, status: str) -> None:
    """Give the release's latest revision `status` (`failed`: helm could not apply it)."""
    name, record = release_record(sim, namespace, release)
    record["info"]["status"] = status
    packed = base64.b64encode(gzip.compress(json.dumps(record).encode()))

    def write() -> None:
        secrets = BY_PLURAL["secrets"]
        stored = sim.sim.store.get(secrets, namespace, name)
        labels = {**stored["metadata"]["labels"], "status": status}
        sim.sim.store.update(secrets, namespace, name, {
            **stored, "metadata": {**stored["metadata"], "labels": labels},
            "data": {"release": base64.b64encode(packed).decode()}})

    sim.call(write)
