"""A blue-green deploy from a terminal whose old side is removed later (`remove_old_after`).

Given the admin app configured to remove its old side a little after a switch, when
`rollbot deploy admin` completes in the foreground, then it says when the old side goes and
how, and leaves it serving nothing but present; `rollbot resume ID` then waits for that
moment and removes it, and a second resume finds nothing left to do.
"""

from __future__ import annotations

from pathlib import Path

from rollout.model import Phase
from tests.e2e.cli_support import Rollbot, assert_no_traceback, rollout_id_from, running_sim

NEW = "v1.4.0"
OLD_SIDE = "platform-admin-app"  # the seeded deployment the Service selects


def admin_deployments(deployments: list[dict[str, object]]) -> set[str]:
    return {str(d["name"]) for d in deployments if d["namespace"] == "platform-admin"}


def test_old_side_is_kept_until_its_time_then_removed_by_resume(tmp_path: Path) -> None:
    with running_sim(tmp_path, tenants=1) as sim:
        rollbot = Rollbot.in_folder(tmp_path, sim, admin={"remove_old_after": "3s"})
        try:
            # Given a completed deploy of the blue-green app
            job = rollbot.spawn("deploy", "admin", NEW)
            rid = rollout_id_from(job)
            assert job.finish() == 0, job.output() + job.errors()
            told = job.output()
            assert f"{OLD_SIDE} stays until" in told
            assert f"rollbot resume {rid}" in told
            done = rollbot.rollout(rid)
            assert done is not None and done.phase is Phase.COMPLETED
            assert done.blue_green is not None and not done.blue_green.old_removed
            assert OLD_SIDE in admin_deployments(sim.deployments())

            # When resume takes the rollout up again
            resumed = rollbot.run("resume", str(rid), timeout=60)

            # Then it waits for the removal time and removes the old side
            assert resumed.returncode == 0, resumed.stdout + resumed.stderr
            assert "Waiting for that" in resumed.stdout
            assert f"Removed {OLD_SIDE}" in resumed.stdout
            left = admin_deployments(sim.deployments())
            assert OLD_SIDE not in left and len(left) == 1
            final = rollbot.rollout(rid)
            assert final is not None and final.blue_green is not None
            assert final.blue_green.old_removed

            # And once removed, there is nothing more to resume
            again = rollbot.run("resume", str(rid))
            assert again.returncode == 0
            assert "nothing to resume" in again.stdout
            assert_no_traceback(told, job.errors(), resumed.stdout, resumed.stderr,
                                again.stdout, again.stderr)  # fmt: skip
        finally:
            rollbot.stop_all()
