"""The speed table's benchmark (``python -m bench.speed``), kept from rotting.

Its smallest form (every fleet capped at a handful of tenants, one short round of Slack
commands) runs end to end as a person would run it and must write every figure of the
table; the planner-made ideal, the choice of runs and the simulator's start-up error are
checked on their own, without a cluster.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bench import ack_latency, fleet, speed, speed_table
from bench.simproc import SimError, SimProcess

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 180
VERSION = "v1.3.0"


def test_the_ideal_of_a_doubling_run_comes_from_the_engines_planner() -> None:
    # Given 1,000 tenants with waves=double and the whole fleet as the cap
    params = fleet.Params(batch=1000, wait=0, ready_delay=0.3, version=VERSION,
                          extra=("waves=double",))

    # When the bench plans it
    batches = fleet.planned_batches(1000, params)

    # Then it doubles from 1 (1 + 2 + ... + 256 = 511) and the last batch takes the rest
    assert batches == 10
    assert fleet.ideal_seconds(1000, params) == pytest.approx(10 * 0.3)
    assert fleet.ideal_seconds(1000, fleet.Params(5, 0, 0.3, VERSION)) == pytest.approx(60.0)


def test_extra_words_reach_rollbot_deploy_and_are_refused_for_the_script(tmp_path: Path) -> None:
    # Given a run with an extra deploy word, against a (not started) simulator
    params = fleet.Params(batch=1000, wait=0, ready_delay=0.3, version=VERSION,
                          extra=("waves=double",))
    sim = SimProcess(["true"], kubeconfig=tmp_path / "kubeconfig", log=tmp_path / "sim.log")

    # When each side's command is built
    command, _ = fleet.side_command("rollbot", params, sim=sim, workdir=tmp_path,
                                    script=tmp_path / "script.sh")

    # Then rollbot is given the word, and the script, which has no such option, refuses it
    assert command[-3:] == ["pilot=0", "waves=double", "--auto-approve"]
    with pytest.raises(ValueError, match="waves=double"):
        fleet.side_command("script", params, sim=sim, workdir=tmp_path,
                           script=tmp_path / "script.sh")


def test_quick_runs_figures_1_4_and_5_and_skip_long_leaves_out_figure_2() -> None:
    quick = speed.left_out(quick=True, skip_long=False)
    no_long = speed.left_out(quick=False, skip_long=True)

    assert sorted(set(speed.NEEDS) - set(quick)) == [1, 4, 5]
    assert speed.chosen_runs([1, 4, 5]) == ("batch5", "one-batch")
    assert list(no_long) == [2]
    assert "long" not in speed.chosen_runs([n for n in speed.NEEDS if n not in no_long])


def test_a_figure_whose_run_failed_says_so_instead_of_a_number() -> None:
    # Given run 1 that left tenants behind
    runs: dict[str, dict[str, Any]] = {"batch5": {"ok": False, "log": "run.log"}}

    # When the figures are judged
    judged = {f["figure"]: f for f in speed.figures(runs, {n: "left out" for n in (2, 3, 4, 6, 7)})}

    # Then figures 1 and 5 have no number and no verdict, and say why
    for number in (1, 5):
        assert judged[number]["met"] is None
        assert "did not finish cleanly" in judged[number]["detail"]
        assert speed_table.verdict(judged[number]) == "no figure"


def test_a_simulator_that_exits_at_start_is_reported_as_exited(tmp_path: Path) -> None:
    # Given a simulator command that exits at once with code 3
    sim = SimProcess([sys.executable, "-c", "raise SystemExit(3)"],
                     kubeconfig=tmp_path / "kubeconfig", log=tmp_path / "sim.log")

    # When it is started, Then the error says it exited, and with what code
    with pytest.raises(SimError, match="exited with code 3"):
        sim.start(timeout=30)


def test_a_simulator_killed_during_a_run_is_named_in_the_error(tmp_path: Path) -> None:
    # Given a started simulator that is killed once the test says so
    cue = tmp_path / "die-now"
    dies = (
        "import os, pathlib, time\n"
        "print('http://127.0.0.1:9', flush=True)\n"
        f"while not pathlib.Path({str(cue)!r}).exists(): time.sleep(0.02)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    sim = SimProcess([sys.executable, "-c", dies], kubeconfig=tmp_path / "kubeconfig",
                     log=tmp_path / "sim.log")
    sim.start(timeout=30)
    cue.touch()
    deadline = time.monotonic() + 30
    while sim.exit_code is None and time.monotonic() < deadline:
        time.sleep(0.05)

    # When the bench asks it for its counters, Then the error says what became of it
    with pytest.raises(SimError, match="killed by SIGKILL"):
        sim.counters()
    sim.stop()


class _Unhealthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "unhealthy", "problem": "journal: busy"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def unhealthy_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unhealthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/healthz"
    server.shutdown()
    server.server_close()
    thread.join()


def test_an_unhealthy_answer_from_healthz_is_recorded_not_fatal(unhealthy_url: str) -> None:
    # Given a /healthz that answers 503 with the reason

    # When the ack bench asks it whether the rollout still runs
    active, problem = ack_latency.healthz_active(unhealthy_url)

    # Then it does not know, and keeps the reason
    assert active is None
    assert problem == "HTTP 503: journal: busy"


def test_the_smallest_speed_table_has_every_figure(tmp_path: Path) -> None:
    # Given every fleet capped at 4 tenants and one round of 4 Slack commands
    out = tmp_path / "speed.json"

    # When the speed bench runs as a person would run it
    done = subprocess.run(
        [sys.executable, "-m", "bench.speed", "--max-tenants", "4", "--ack-rounds", "1",
         "--ack-concurrency", "4", "--out", str(out), "--runs-dir", str(tmp_path / "runs")],
        cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
    )

    # Then every run finished, and every figure of the table has a number and a verdict
    assert done.returncode == 0, done.stdout + done.stderr
    results: dict[str, Any] = json.loads(out.read_text())
    figures = results["figures"]
    assert sorted({f["figure"] for f in figures}) == [1, 2, 3, 4, 5, 6, 7]
    for figure in figures:
        assert figure["value"] is not None and figure["met"] in (True, False), figure
        assert figure["goal"].startswith(("≤", "≥")), figure
    assert set(results["runs"]) == {"batch5", "long", "double", "fixed5", "one-batch", "ack",
                                    "huge"}
    for name, run in results["runs"].items():
        assert run["ok"], (name, run)
        assert run["tenants"] == 4
        assert {"load_1m_before", "load_1m_after", "wall_s"} <= set(run), name
    assert results["runs"]["double"]["words"][-1] == "waves=double"
    assert results["commit"] and results["machine"]["cores"] >= 1
    assert results["scaled_to"] == 4
    assert speed_table.table(results) in done.stdout
