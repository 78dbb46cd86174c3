"""kubectl 1.32 and the guide's own script against ``rollbot sim``, as an operator would.

Each test starts ``python -m bot.cli sim`` (seven tenants, pods ready after 50 ms,
progress deadlines scaled to 1%) and checks what kubectl prints and what the cluster
then holds, so the simulator is held to the real tool rather than to our own client.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sim.kube.seed import tenant_namespaces
from tests.e2e.conftest import KubeSim

IMAGE = "123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac/isp-ops-app"
OLD, NEW = f"{IMAGE}:v1.2.3", f"{IMAGE}:v1.3.0"
DEPLOY = "deployment/isp-ops-app"
TENANTS = tenant_namespaces(7)
NS = TENANTS[1]  # tenant-metro-link
EACH_IMAGE = ("{range .items[*]}{.metadata.namespace} "
              "{.spec.template.spec.containers[0].image}\n{end}")


def roll(sim: KubeSim, image: str, ns: str = NS) -> str:
    sim.kubectl("set", "image", DEPLOY, f"frontend={image}", "-n", ns)
    return sim.kubectl("rollout", "status", DEPLOY, "-n", ns, "--timeout=30s").stdout


def deployed_image(sim: KubeSim, ns: str = NS) -> str:
    return sim.kubectl("get", DEPLOY, "-n", ns, "-o",
                       "jsonpath={.spec.template.spec.containers[0].image}").stdout


def first_pod(sim: KubeSim, ns: str = NS) -> str:
    return sim.kubectl("get", "pods", "-n", ns, "-l", "app=isp-ops-app", "-o",
                       "jsonpath={.items[0].metadata.name}").stdout


def test_guide_script_moves_every_tenant_to_the_new_image(kube_sim: KubeSim,
                                                          shared_dir: Path) -> None:
    script = shared_dir / "reference" / "deploy-all-tenants.sh"
    env = {**kube_sim.env, "IMAGE": NEW, "BATCH_SIZE": "3", "WAIT_TIME": "0"}
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Deploying to 7 tenants in batches of 3" in done.stdout
    assert "=== Deploying Batch 3 ===" in done.stdout and "Batch 4" not in done.stdout
    assert done.stdout.count("deployed successfully") == 7, done.stdout
    assert "deployment failed" not in done.stdout
    images = kube_sim.kubectl("get", "deployments", "-A", "-l", "app=isp-ops-app",
                              "-o", f"jsonpath={EACH_IMAGE}").stdout.split("\n")
    assert sorted(line for line in images if line) == sorted(f"{ns} {NEW}" for ns in TENANTS)
    pods = kube_sim.kubectl("get", "pods", "-A", "-l", "app=isp-ops-app", "-o", "jsonpath="
                            "{range .items[*]}{.spec.containers[0].image} "
                            "{.status.containerStatuses[0].ready}\n{end}").stdout.split("\n")
    assert sorted(line for line in pods if line) == [f"{NEW} true"] * 7
    state = kube_sim.control("GET", "state")["deployments"]
    assert all(d["rolled_out"] and d["revision"] == "2"
               for d in state if d["namespace"] in TENANTS)


def test_rollout_status_waits_for_the_new_pods(kube_sim: KubeSim) -> None:
    out = roll(kube_sim, NEW)
    assert out.strip().splitlines()[-1] == 'deployment "isp-ops-app" successfully rolled out'
    table = kube_sim.kubectl("get", "pods", "-n", NS).stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [row.split()[1:4] for row in table[1:]] == [["1/1", "Running", "0"]]


def test_rollout_status_fails_past_the_progress_deadline(kube_sim: KubeSim) -> None:
    kube_sim.kubectl("patch", DEPLOY, "-n", NS, "-p", '{"spec":{"progressDeadlineSeconds":30}}')
    kube_sim.kubectl("set", "image", DEPLOY, f"frontend={IMAGE}:v1.3.1-crash", "-n", NS)
    done = kube_sim.kubectl("rollout", "status", DEPLOY, "-n", NS, "--timeout=30s", check=False)
    assert done.returncode == 1
    assert 'deployment "isp-ops-app" exceeded its progress deadline' in done.stderr
    statuses = kube_sim.kubectl("get", "pods", "-n", NS, "--no-headers").stdout
    assert "CrashLoopBackOff" in statuses and "Running" in statuses  # the old pod stays


def test_rollout_undo_goes_back_to_the_previous_image(kube_sim: KubeSim) -> None:
    roll(kube_sim, NEW)
    undone = kube_sim.kubectl("rollout", "undo", DEPLOY, "-n", NS)
    assert undone.stdout.strip() == "deployment.apps/isp-ops-app rolled back"
    kube_sim.kubectl("rollout", "status", DEPLOY, "-n", NS, "--timeout=30s")
    assert deployed_image(kube_sim) == OLD
    revisions = kube_sim.kubectl("get", "rs", "-n", NS, "-o", "jsonpath={range .items[*]}"
                                 "{.metadata.annotations.deployment\\.kubernetes\\.io/revision} "
                                 "{.spec.replicas}\n{end}").stdout.split()
    assert sorted(zip(revisions[::2], revisions[1::2], strict=True)) == [("2", "0"), ("3", "1")]


def test_rollout_history_lists_every_revision(kube_sim: KubeSim) -> None:
    roll(kube_sim, NEW)
    roll(kube_sim, f"{IMAGE}:v1.3.1")
    history = kube_sim.kubectl("rollout", "history", DEPLOY, "-n", NS).stdout.splitlines()
    assert history[1].split() == ["REVISION", "CHANGE-CAUSE"]
    assert [row.split()[0] for row in history[2:] if row.strip()] == ["1", "2", "3"]
    second = kube_sim.kubectl("rollout", "history", DEPLOY, "-n", NS, "--revision=2").stdout
    assert second.startswith("deployment.apps/isp-ops-app with revision #2")
    assert f"Image:\t{NEW}\n" in second


def test_get_raw_reaches_pod_health_through_the_proxy(kube_sim: KubeSim) -> None:
    base = f"/api/v1/namespaces/{NS}/pods/{first_pod(kube_sim)}"
    health = kube_sim.kubectl("get", "--raw", f"{base}:3000/proxy/api/health").stdout
    assert json.loads(health) == {"status": "ok", "version": "v1.2.3"}
    ready = kube_sim.kubectl("get", "--raw", f"{base}/proxy/api/ready").stdout
    assert json.loads(ready) == {"ready": True}
    kube_sim.control("POST", "behaviours",
                     {"namespace": NS, "tag": "v1.2.*", "behaviour": "unhealthy"})
    sick = kube_sim.kubectl("get", "--raw", f"{base}:3000/proxy/api/health", check=False)
    assert sick.returncode == 1 and "InternalError" in sick.stderr
    other = f"/api/v1/namespaces/{TENANTS[0]}/pods/{first_pod(kube_sim, TENANTS[0])}"
    fine = kube_sim.kubectl("get", "--raw", f"{other}:3000/proxy/api/health").stdout
    assert json.loads(fine)["status"] == "ok"


def test_logs_of_a_deployment_carry_its_error_rate(kube_sim: KubeSim) -> None:
    lines = kube_sim.kubectl("logs", DEPLOY, "-n", NS).stdout.splitlines()
    assert sum("HTTP" in line for line in lines) == 100
    assert not [line for line in lines if "ERROR" in line]
    roll(kube_sim, f"{IMAGE}:v1.3.1-errors20")
    recent = kube_sim.kubectl("logs", DEPLOY, "-n", NS, "--since=30s").stdout.splitlines()
    errors = sum("ERROR" in line for line in recent)
    total = sum("HTTP" in line for line in recent)
    assert errors * 100 // total == 20  # the guide's ERROR_COUNT * 100 / TOTAL_REQUESTS
    assert len(kube_sim.kubectl("logs", DEPLOY, "-n", NS, "--tail=5").stdout.splitlines()) == 5
