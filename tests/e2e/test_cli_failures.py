"""A tenant that fails, and rolling back from the terminal.

Given one tenant whose new image is made to crash (a simulator behaviour rule for that
namespace only), the rollout stops after that tenant's batch and says why; with
`auto_rollback` every tenant it changed goes back to its previous image. And after a
completed rollout, `rollbot rollback ID tenants=...` puts some tenants back where they
were, and `rollbot rollback <app>` the rest, each tenant patched once on the way back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout.model import Phase, TargetStatus
from sim.prometheus import PrometheusStandIn
from tests.e2e.cli_support import (
    ISP_IMAGE,
    OLD_VERSION,
    Rollbot,
    Sim,
    assert_no_traceback,
    rollout_id_from,
    running_sim,
)

NEW = "v1.3.1"
TENANTS = 12


def _third_tenant_of_batch_two(sim: Sim) -> str:
    # Targets are ordered by name; with pilot=1 batch=4, names [5:9] form batch 2.
    return sorted(sim.tenant_images())[6]


def test_failing_tenant_pauses_after_its_batch_with_the_reason(tmp_path: Path) -> None:
    with running_sim(tmp_path, tenants=TENANTS) as sim:
        rollbot = Rollbot.in_folder(tmp_path, sim, rollout_timeout="2s",
                                    terminal_auto_approve=True)
        bad = _third_tenant_of_batch_two(sim)
        sim.set_behaviour(bad, NEW, "crash")
        try:
            job = rollbot.spawn("deploy", "isp", NEW, "batch=4", "pilot=1", "--auto-approve")
            rid = rollout_id_from(job)
            paused = rollbot.wait_rollout(
                rid, lambda r: r.phase is Phase.PAUSED, what="paused by the failure"
            )
            failed = [t for t in paused.targets if t.status is TargetStatus.FAILED]
            assert [t.namespace for t in failed] == [bad]
            assert failed[0].reason
            assert paused.reason
            batch = failed[0].batch
            assert all(t.status is TargetStatus.PENDING for t in paused.targets if t.batch > batch)
            assert all(
                t.status is TargetStatus.UPDATED
                for t in paused.targets
                if t.batch <= batch and t.namespace != bad
            )
            images = sim.tenant_images()
            later = [t.namespace for t in paused.targets if t.batch > batch]
            assert all(images[ns] == f"{ISP_IMAGE}:{OLD_VERSION}" for ns in later)

            status = rollbot.run("status", str(rid))
            assert status.returncode == 0
            assert "paused" in status.stdout.lower()
            assert bad in status.stdout
            assert_no_traceback(status.stdout, status.stderr)

            # The foreground deploy leaves the paused rollout to a person and says how.
            code = job.finish()
            assert code != 0
            assert bad in job.output()
            assert f"rollbot resume {rid}" in job.output() or f"rollbot rollback {rid}" in (
                job.output()
            )
            assert_no_traceback(job.output(), job.errors())
        finally:
            rollbot.stop_all()


def test_an_error_rate_from_prometheus_fails_the_tenant_it_names(tmp_path: Path) -> None:
    query = (
        'sum(rate(errors{namespace="$namespace"}[$window])) / '
        'sum(rate(requests{namespace="$namespace"}[$window]))'
    )
    with running_sim(tmp_path, tenants=TENANTS) as sim, PrometheusStandIn() as prom:
        bad = _third_tenant_of_batch_two(sim)
        prom.rates[bad] = 0.25
        health = {"prometheus": {"url": prom.url, "error_rate_query": query, "timeout": "2s"}}
        rollbot = Rollbot.in_folder(tmp_path, sim, health=health, terminal_auto_approve=True)
        try:
            job = rollbot.spawn("deploy", "isp", NEW, "batch=4", "pilot=1", "--auto-approve")
            rid = rollout_id_from(job)
            assert job.finish() == 3, job.output() + job.errors()
            paused = rollbot.rollout(rid)
            assert paused is not None and paused.phase is Phase.PAUSED
            failed = [t for t in paused.targets if t.status is TargetStatus.FAILED]
            assert [(t.namespace, t.reason) for t in failed] == [
                (bad, "error rate 25.0% over 5.0% (Prometheus)")
            ]
            assert "error rate 25.0% over 5.0% (Prometheus)" in job.output()
            assert any(f'namespace="{bad}"' in q for q in prom.queries)
            assert_no_traceback(job.output(), job.errors())
        finally:
            rollbot.stop_all()


def test_auto_rollback_returns_every_changed_tenant(tmp_path: Path) -> None:
    with running_sim(tmp_path, tenants=TENANTS) as sim:
        rollbot = Rollbot.in_folder(tmp_path, sim, rollout_timeout="2s", auto_rollback=True,
                                    terminal_auto_approve=True)
        bad = _third_tenant_of_batch_two(sim)
        sim.set_behaviour(bad, NEW, "crash")
        result = rollbot.run("deploy", "isp", NEW, "batch=4", "pilot=1", "--auto-approve")
        assert result.returncode != 0
        assert_no_traceback(result.stdout, result.stderr)
        rid = int(result.stdout.split("#", 1)[1].split(":", 1)[0])
        final = rollbot.rollout(rid)
        assert final is not None and final.phase is Phase.ROLLED_BACK
        assert final.reason
        changed = {t.namespace for t in final.targets if t.status is TargetStatus.ROLLED_BACK}
        untouched = {t.namespace for t in final.targets if t.status is TargetStatus.PENDING}
        assert bad in changed and changed | untouched == set(sim.tenant_images())
        assert set(sim.tenant_images().values()) == {f"{ISP_IMAGE}:{OLD_VERSION}"}
        patched = sim.patches()
        assert set(patched) == changed
        assert all(n == 2 for n in patched.values()), patched


def test_rollback_of_a_completed_rollout_restores_every_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_sim(tmp_path, tenants=8) as sim:
        rollbot = Rollbot.in_folder(tmp_path, sim, terminal_auto_approve=True)
        deployed = rollbot.run("deploy", "isp", NEW, "batch=4", "pilot=1", "--auto-approve")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        rid = int(deployed.stdout.split("#", 1)[1].split(":", 1)[0])
        tenants = sorted(sim.tenant_images())
        assert set(sim.tenant_images().values()) == {f"{ISP_IMAGE}:{NEW}"}

        # Some tenants first, by rollout ID ...
        some = tenants[:2]
        partial = rollbot.run("rollback", str(rid), "tenants=" + ",".join(some))
        assert partial.returncode == 0, partial.stdout + partial.stderr
        assert_no_traceback(partial.stdout, partial.stderr)
        images = sim.tenant_images()
        assert {ns for ns, image in images.items() if image.endswith(OLD_VERSION)} == set(some)

        # ... then the rest, by app: the app's latest rollout is undone
        rest = rollbot.run("rollback", "isp")
        assert rest.returncode == 0, rest.stdout + rest.stderr
        assert_no_traceback(rest.stdout, rest.stderr)
        assert set(sim.tenant_images().values()) == {f"{ISP_IMAGE}:{OLD_VERSION}"}
        assert sim.patches() == dict.fromkeys(tenants, 2), "one update and one rollback each"
        final = rollbot.rollout(rid)
        assert final is not None and final.phase is Phase.ROLLED_BACK
        assert {t.status for t in final.targets} == {TargetStatus.ROLLED_BACK}

        code, _, err = rollbot.run_here(monkeypatch, "rollback", str(rid))
        assert code == 1
        assert "already rolled back" in err


def test_kubernetes_calls_retried_after_api_errors_are_named_in_the_summary(
    tmp_path: Path,
) -> None:
    # Given an API server that answers the first patch of two deployments with a 500
    with running_sim(tmp_path, tenants=6) as sim:
        for namespace in sorted(sim.tenant_images())[2:4]:
            fault = {"method": "PATCH", "path": f"/namespaces/{namespace}/deployments/",
                     "times": 1, "status": 500, "retry_after": 0}  # fmt: skip
            sim.control("POST", "faults", fault)
        rollbot = Rollbot.in_folder(tmp_path, sim, terminal_auto_approve=True)
        # When a rollout goes through it from the terminal
        result = rollbot.run("deploy", "isp", NEW, "batch=2", "--auto-approve")
        # Then it completes, and its summary says how many patches had to be tried again
        assert result.returncode == 0, result.stdout + result.stderr
        assert [f["fired"] for f in sim.control("GET", "faults")] == [1, 1]
        assert "2 Kubernetes calls were retried (2 patches) after API errors." in result.stdout
        assert "6 updated · 0 failed · 0 skipped · 0 rolled back" in result.stdout
        assert_no_traceback(result.stdout, result.stderr)
