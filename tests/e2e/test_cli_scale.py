"""The terminal at scale: a big fleet reads like Slack's thread, not like a dump.

Given fleets large enough that every name on one line or every tenant on its own line
would bury what matters, `rollbot plan` keeps one line per batch with its count and a
few names, and `rollbot deploy` prints each batch's line with its counts, the failed
tenant first, and "… and N more" past a screenful; `plan --all` and `deploy --verbose`
still print every name.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.cli_support import Rollbot, Sim, assert_no_traceback, running_sim

NEW = "v1.3.1"
SCREENFUL = 20  # tenant lines the terminal shows under a batch's line


def test_a_ten_thousand_tenant_plan_is_one_short_line_per_batch(tmp_path: Path) -> None:
    with running_sim(tmp_path, tenants=10_000, start_timeout=60) as sim:
        rollbot = Rollbot.in_folder(tmp_path, sim)

        # When the plan of a 10,000-tenant rollout in batches of 1,000 is printed
        folded = rollbot.run("plan", "isp", NEW, "batch=1000")
        every = rollbot.run("plan", "isp", NEW, "batch=1000", "--all")
        fleet = sim.tenant_images()

    # Then each batch has one line with its count and "… and N more", a page in all
    assert folded.returncode == 0, folded.stderr
    assert_no_traceback(folded.stdout, folded.stderr)
    lines = folded.stdout.splitlines()
    batches = [line for line in lines if line.startswith("Batch ")]
    assert len(batches) == 10
    assert all("(1000): " in line and line.endswith("… and 992 more") for line in batches[:9])
    assert len(folded.stdout) < 4_000, len(folded.stdout)
    assert "--all" in folded.stdout
    # And --all names every tenant
    assert every.returncode == 0, every.stderr
    assert all(ns in every.stdout for ns in fleet)


def _failing_deploy(tmp_path: Path, sim: Sim, *extra: str) -> tuple[int, str, str]:
    """A deploy of batches of 50 whose first batch has one crash-looping tenant."""
    rollbot = Rollbot.in_folder(tmp_path, sim, pilot=0, approval=False, rollout_timeout="5s")
    bad = sorted(sim.tenant_images())[30]
    sim.set_behaviour(bad, NEW, "crash")
    done = rollbot.run("deploy", "isp", NEW, "batch=50", *extra)
    return done.returncode, done.stdout, bad


def test_a_big_batch_prints_its_counts_its_failure_and_a_screenful(tmp_path: Path) -> None:
    with running_sim(tmp_path, tenants=60) as sim:
        # When a batch of 50 with one failed tenant is reported in the terminal
        code, out, bad = _failing_deploy(tmp_path, sim)

    # Then the batch's line has its counts, the failed tenant leads, and the rest fold
    assert code == 3, out
    head = next(line for line in out.splitlines() if "Batch 1 of 2" in line)
    assert "49/50 updated" in head and "1 failed" in head
    batch = out.split(head, 1)[1].splitlines()[1:]
    assert bad in batch[0] and "❌" in batch[0]
    # a screenful of lines under the batch's line (the failure's "also:" line among them),
    # then one line counting the tenants left out
    shown = batch[:SCREENFUL]
    tenants_shown = sum(1 for line in shown if line.strip()[:1] in ("✅", "❌"))
    assert batch[SCREENFUL].strip() == (
        f"… and {50 - tenants_shown:,} more (--verbose shows every one)"
    )
    assert len(out.splitlines()) < 60, out


def test_verbose_prints_every_tenant(tmp_path: Path) -> None:
    with running_sim(tmp_path, tenants=60) as sim:
        code, out, _ = _failing_deploy(tmp_path, sim, "--verbose")
        names = sorted(sim.tenant_images())[:50]

    assert code == 3, out
    assert all(ns in out for ns in names)
    assert "more (--verbose" not in out
