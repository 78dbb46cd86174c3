"""A tiny run of the fleet benchmark (6 tenants) so that it cannot rot unnoticed.

It runs ``python -m bench.fleet`` exactly as a person would, both sides on fresh simulated
clusters, and checks the JSON it writes; the arithmetic of the ideal schedule and the
table are checked on their own, without a cluster.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import fleet, measure, report

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 120


def test_ideal_schedule_counts_the_wait_between_batches_only() -> None:
    params = fleet.Params(batch=10, wait=2, ready_delay=1.5, version="v1.3.0")

    assert fleet.batch_count(95, 10) == 10
    assert fleet.ideal_seconds(95, params) == 10 * 1.5 + 9 * 2
    assert fleet.ideal_seconds(7, params) == 1.5


def test_default_timeout_leaves_room_over_the_ideal() -> None:
    params = fleet.Params(batch=10, wait=1, ready_delay=1.0, version="v1.3.0")

    assert fleet.default_timeout(1000, params) > 2 * fleet.ideal_seconds(1000, params)


def test_outcome_names_tenants_left_behind() -> None:
    new = "repo:v1.3.0"
    images = {
        "tenant-a": {"image": new, "rolled_out": True},
        "tenant-b": {"image": new, "rolled_out": False},
        "tenant-c": {"image": "repo:v1.2.3", "rolled_out": True},
    }

    done = fleet.outcome(images, tenants=3, image=new)

    assert done["tenants_on_new_image"] == 1
    assert not done["all_on_new_image"]
    assert done["not_on_new_image"] == ["tenant-b", "tenant-c"]


def test_a_run_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    log = tmp_path / "run.log"

    result = measure.run_measured(["bash", "-c", "sleep 30 & wait"], log=log, timeout=0.5)

    assert result["timed_out"]
    assert result["wall_s"] < 10


def test_a_command_that_cannot_start_is_a_result_not_a_crash(tmp_path: Path) -> None:
    result = measure.run_measured(["/nonexistent/kubectl"], log=tmp_path / "run.log", timeout=5)

    assert result["exit_code"] == 127
    assert "cannot start" in (tmp_path / "run.log").read_text()


def test_a_spent_budget_stops_the_bench_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"

    code = fleet.main(["--tenants", "6", "--budget", "1", "--out", str(out),
                       "--runs-dir", str(tmp_path / "runs")])

    assert code == 1
    results = json.loads(out.read_text())
    assert results["runs"] == []
    assert "budget" in results["stopped"]


def test_fleet_bench_runs_both_sides_end_to_end(tmp_path: Path) -> None:
    script = fleet.shared_script()
    assert script.is_file(), f"the guide's script is missing: expected it at {script}"
    out = tmp_path / "fleet.json"

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.fleet",
            "--tenants",
            "6",
            "--batch",
            "3",
            "--wait",
            "0",
            "--ready-delay",
            "0.1",
            "--timeout",
            "60",
            "--out",
            str(out),
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    results: dict[str, Any] = json.loads(out.read_text())
    runs = {r["side"]: r for r in results["runs"]}
    assert set(runs) == {"script", "rollbot"}
    for side, run in runs.items():
        assert run["ok"], (side, run)
        assert run["tenants_on_new_image"] == 6
        assert run["batches"] == 2
        assert run["requests_by_verb"].get("patch", 0) >= 6, (side, run["requests_by_verb"])
        assert run["max_rss_kb"] > 0
    assert runs["rollbot"]["rollout_id"] is not None
    assert results["machine"]["cores"] >= 1
    assert "rollbot/script" in done.stdout
    assert report.table(results) in done.stdout
