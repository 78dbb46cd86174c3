"""`rollbot pause`, `resume` and `cancel` from other terminals while a rollout runs.

Given a foreground deploy, when someone pauses it from another terminal, the deploy says
so and exits (3: a person's choice is due) with the rollout saved; `rollbot resume ID`
then carries it on in the foreground, and `rollbot cancel ID` from yet another terminal
stops it for good after the batch in flight: tenants not reached keep their old image.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout.model import Phase, TargetStatus
from tests.e2e.cli_support import (
    ISP_IMAGE,
    OLD_VERSION,
    Rollbot,
    assert_no_traceback,
    rollout_id_from,
    running_sim,
)

NEW = "v1.5.0"


def test_pause_then_resume_then_cancel_from_other_terminals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_sim(tmp_path, tenants=10) as sim:
        rollbot = Rollbot.in_folder(tmp_path, sim, terminal_auto_approve=True)
        try:
            # Given a deploy waiting between batches 1 and 2
            job = rollbot.spawn("deploy", "isp", NEW, "batch=3", "pilot=1", "wait=2s",
                                "--auto-approve")
            rid = rollout_id_from(job)
            rollbot.wait_rollout(rid, lambda r: r.phase is Phase.WAITING, what="waiting")

            # When it is paused from another terminal, the deploy stops following it
            paused = rollbot.run("pause", str(rid))
            assert paused.returncode == 0, paused.stdout + paused.stderr
            assert job.finish() == 3
            assert f"rollbot resume {rid}" in job.output()
            stored = rollbot.rollout(rid)
            assert stored is not None and stored.phase is Phase.PAUSED
            assert stored.paused_from is Phase.WAITING
            code, shown, _ = rollbot.run_here(monkeypatch, "status", str(rid))
            assert code == 0
            assert "paused" in shown.lower() and f"rollbot resume {rid}" in shown

            # Then resume carries on, and a cancel from a third terminal ends it
            resumer = rollbot.spawn("resume", str(rid))
            rollbot.wait_rollout(
                rid, lambda r: r.phase is Phase.WAITING and r.current_batch == 2,
                what="waiting after batch 2",
            )
            cancelled = rollbot.run("cancel", str(rid))
            assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
            assert resumer.finish() == 1
            assert_no_traceback(job.output(), job.errors(), resumer.output(), resumer.errors(),
                                cancelled.stdout, cancelled.stderr)

            final = rollbot.rollout(rid)
            assert final is not None and final.phase is Phase.CANCELLED
            reached = {t.namespace for t in final.targets if t.status is TargetStatus.UPDATED}
            left = {t.namespace for t in final.targets if t.status is TargetStatus.PENDING}
            assert len(reached) == 7 and len(left) == 3
            images = sim.tenant_images()
            assert all(images[ns] == f"{ISP_IMAGE}:{NEW}" for ns in reached)
            assert all(images[ns] == f"{ISP_IMAGE}:{OLD_VERSION}" for ns in left)
            assert sim.patches() == dict.fromkeys(reached, 1)
        finally:
            rollbot.stop_all()
