"""A helm app from the terminal, as an operator runs it: `rollbot sim` in one process,
tenants installed there by real `helm install`, `rollbot deploy isp-helm v1.3.1 batch=5`
in another, approved from a third, killed with SIGKILL mid-batch, and `rollbot resume`.
Everything is read back from outside: Helm's own history, exit codes, printed lines.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.helm import HelmCli
from rollout.model import Phase, Rollout, TargetStatus
from sim.kube.seed import tenant_slugs
from tests.e2e.cli_support import (
    APPROVER,
    DEPLOYER,
    ISP_IMAGE,
    Rollbot,
    assert_no_traceback,
    rollout_id_from,
    running_sim,
    write_config,
)
from tests.helm_fleet import CHART, helm_binary, install

TENANTS = 20
NEW = "v1.3.1"


def _mid_batch(rollout: Rollout) -> bool:
    """Batch 2's tenants are under way (their upgrades sent, their pods not yet ready)."""
    return (
        rollout.phase is Phase.BATCH
        and rollout.current_batch == 2
        and any(t.status is TargetStatus.UPDATING for t in rollout.batch(2))
    )


def helm_config(path: Path, helm: str) -> Path:
    """The usual test config plus SPEC section 11's `isp-helm` app, on the test chart."""
    write_config(path)
    config = json.loads(path.read_text())
    config["apps"]["isp-helm"] = {
        "strategy": "helm", "chart": str(CHART), "release_name": "{slug}-isp",
        "tenant_selector": "app.kubernetes.io/component=tenant", "deployment": "isp-ops-app",
        "values_key": "image.tag", "helm": helm, "batch": 5, "wait": "0s", "pilot": 2,
        "pilot_monitor": "1s", "rollout_timeout": "20s", "approval": True,
        # one OS account runs every terminal here, so four-eyes would refuse bob
        "four_eyes": False, "deployers": [DEPLOYER], "approvers": [APPROVER],
    }
    path.write_text(json.dumps(config, indent=2))
    return path


def test_deploy_approve_sigkill_and_resume_upgrade_every_release_once(tmp_path: Path) -> None:
    binary = helm_binary()
    with running_sim(tmp_path, tenants=TENANTS, ready_delay=0.6, empty_tenants=True) as sim:
        # Given 20 tenants installed with helm
        helm = HelmCli(binary=binary, kubeconfig=str(sim.kubeconfig))
        slugs = tenant_slugs(TENANTS)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(install, [helm] * TENANTS, [f"tenant-{s}" for s in slugs], slugs,
                          range(TENANTS)))
        rollbot = Rollbot(tmp=tmp_path, config=helm_config(tmp_path / "rollbot.yaml", binary),
                          db=tmp_path / "rollbot.db", kubeconfig=sim.kubeconfig)
        try:
            # When the deploy runs, bob approves from another terminal, and the deploy is
            # killed in the middle of batch 2
            job = rollbot.spawn("deploy", "isp-helm", NEW, "batch=5")
            rid = rollout_id_from(job)
            rollbot.wait_rollout(rid, lambda r: r.phase is Phase.AWAITING_APPROVAL,
                                 what="at the gate", timeout=40)
            approved = rollbot.run("approve", str(rid), "--as", APPROVER)
            assert approved.returncode == 0, approved.stderr
            rollbot.wait_rollout(rid, _mid_batch, what="in batch 2", timeout=40)
            job.kill()
            printed = job.output()
            resumed = rollbot.run("resume", str(rid), timeout=90)

            # Then it completes, every release upgraded exactly once to v1.3.1
            assert resumed.returncode == 0, resumed.stdout + resumed.stderr
            assert_no_traceback(resumed.stdout, resumed.stderr, job.errors())
            for slug in slugs:
                ns, release = f"tenant-{slug}", f"{slug}-isp"
                history = helm.history(ns, release)
                assert [r.revision for r in history] == [1, 2], (ns, history)
                assert helm.status(ns, release).value("image.tag") == NEW
            assert set(sim.tenant_images().values()) == {f"{ISP_IMAGE}:{NEW}"}
            # and the terminal showed each tenant's Helm revisions as its batch finished
            assert "· Helm revision 1 → 2" in printed + resumed.stdout
            final = rollbot.rollout(rid)
            assert final is not None and final.phase is Phase.COMPLETED
            assert {(t.previous_revision, t.revision) for t in final.targets} == {(1, 2)}
        finally:
            rollbot.stop_all()
