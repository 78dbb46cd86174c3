"""A one-round run of the release benchmark, so that it cannot rot unnoticed.

It runs ``python -m bench.release`` as a person would (its own engine and registry, the
fixture monorepo, the docker CLI for the manual side, `rollbot release build-only` for
rollbot's), and checks the JSON it writes; the medians, the ratio and the table are checked
on their own, without an engine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import release, release_table
from sim.docker import missing_needs

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 180


def _run(side: str, round_: int, total: float | None, *, ok: bool = True) -> dict[str, Any]:
    phases = {"install": 1.0, "shared_build": 2.0, "images": None if total is None else total - 4,
              "push": 1.0}
    return {"side": side, "round": round_, "version": f"v1.4.{round_}", "ok": ok, "error": "",
            "steps": {}, "phases": phases, "build_push_s": total, "wall_s": 0.0,
            "load_1m_before": 1.0, "load_1m_after": 1.0, "log_dir": "runs"}


def test_the_ratio_is_of_the_medians_and_failed_runs_are_left_out() -> None:
    runs = [_run("manual", 1, 10.0), _run("rollbot", 1, 6.0), _run("rollbot", 2, 30.0,
                                                                    ok=False),
            _run("manual", 2, 12.0), _run("rollbot", 3, 7.0), _run("manual", 3, 11.0)]
    found = release.summary(runs)
    assert found["medians"]["manual"]["build_push"] == 11.0
    assert found["medians"]["rollbot"]["build_push"] == 6.5
    assert found["ratio"] == round(6.5 / 11.0, 3) and found["goal_met"]


def test_the_table_shows_each_round_and_says_whether_the_goal_was_met() -> None:
    runs = [_run("rollbot", 1, 9.0), _run("manual", 1, 10.0)]
    results = {"runs": runs, "parameters": {"rounds": 1, "warmup": False},
               "machine": {"cores": 2, "python": "3.11", "rollbot_commit": "abc"},
               **release.summary(runs)}
    text = release_table.table(results)
    assert "round 1 (rollbot first)" in text
    assert "goal: rollbot/manual ≤ 0.70: NOT met (0.90)" in text


@pytest.mark.skipif(bool(missing_needs(release.NEEDS)), reason="needs scripts/setup")
def test_one_round_of_the_benchmark_runs_both_sides_and_writes_its_json(tmp_path: Path) -> None:
    out = tmp_path / "release.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.release", "--rounds", "1", "--no-warmup", "--out",
         str(out)], cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        check=False)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    results = json.loads(out.read_text())
    assert [r["side"] for r in results["runs"]] == ["manual", "rollbot"]
    assert all(r["ok"] and r["build_push_s"] > 0 for r in results["runs"])
    manual, rollbot = results["runs"]
    assert set(manual["steps"]) == {"install", "shared-build", "image:admin", "image:isp",
                                    "push:admin", "push:isp"}
    assert rollbot["steps"]["push:isp"] is not None and "deploy:isp" not in rollbot["steps"]
    # The manual sequence runs no checks, so inside rollbot's timed span neither does it.
    assert rollbot["steps"]["checks"] < 1.0
    assert results["ratio"] > 0 and "goal: rollbot/manual" in done.stdout
