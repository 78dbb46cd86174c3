"""The fleet benchmark: rollbot against the guide's own rollout script, side by side.

For each fleet size, each side gets a fresh simulated cluster (``rollbot sim`` as a
subprocess) with the same batch size, wait and simulated rollout delay:

- script: ``bash deploy-all-tenants.sh`` (the guide's Method 2) with KUBECONFIG, IMAGE,
  BATCH_SIZE and WAIT_TIME;
- rollbot: ``rollbot deploy isp VERSION batch=B wait=Ws pilot=0 --auto-approve`` with
  ``bench/fleet_config.yaml`` (no approval gate, no pilot monitor, health checks on) and a
  fresh journal.

It reports wall time against the ideal schedule, API requests per tenant (from the
simulator's counters), peak memory and CPU (see bench/measure.py for how), and whether
every tenant ended on the new image; then prints a table and writes
``bench/results/fleet.json``. Run ``python -m bench.fleet --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from bench import report
from bench.measure import METHOD as RSS_METHOD
from bench.simproc import SimProcess
from bot.config import load_config
from rollout.model import Settings
from rollout.options import parse_options
from rollout.plan import Estimate, Pace, estimate, make_plan, resolve_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = REPO_ROOT / "bench" / "fleet_config.yaml"
RESULTS = REPO_ROOT / "bench" / "results"
REPOSITORY = "123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac/isp-ops-app"
APP = "isp"
SIDES = ("script", "rollbot")
DEFAULT_TENANTS = (100, 1000)
QUICK_TENANTS = (100,)
BENCH_USER = "U0BENCH"
MEASURE_GRACE_S = 30.0
DEFAULT_BUDGET_S = 1800.0
MIN_RUN_S = 10.0
_ROLLOUT_ID = re.compile(r"Rollout #(\d+)")


@dataclass(frozen=True)
class Params:
    """What both sides are asked to do; the same for every fleet size of one run.

    ``extra`` holds more words for ``rollbot deploy`` (``waves=double``); the guide's script
    has no such options, so only rollbot can run with them."""

    batch: int
    wait: int
    ready_delay: float
    version: str
    extra: tuple[str, ...] = ()

    @property
    def image(self) -> str:
        return f"{REPOSITORY}:{self.version}"

    def deploy_words(self) -> list[str]:
        """The option words of ``rollbot deploy``; the same words plan the ideal schedule."""
        return [f"batch={self.batch}", f"wait={self.wait}s", "pilot=0", *self.extra]


@cache
def _app_settings() -> Settings:
    return load_config(CONFIG).app(APP).settings


def schedule(tenants: int, params: Params) -> Estimate:
    """The engine's own plan for this run, timed with the simulated rollout delay per batch.

    The deploy words go through the engine's parser and planner over the bench's config,
    so batch sizes (``waves=double`` included) follow the rule rollbot runs, not a copy."""
    options = parse_options(params.deploy_words(), now=datetime.now(UTC))
    settings = resolve_settings(_app_settings(), options)
    plan = make_plan([f"tenant-{i:05d}" for i in range(tenants)], settings)
    # Pods become ready after the same delay however many roll at once: one round a batch.
    pace = Pace(tenant_seconds=params.ready_delay, parallel=max(1, tenants))
    return estimate(plan, settings, pace=pace)


def planned_batches(tenants: int, params: Params) -> int:
    """Batches of the run as the engine plans them, a pilot batch included."""
    return sum(1 for step in schedule(tenants, params).steps if step.kind in ("pilot", "batch"))


def batch_count(tenants: int, batch: int) -> int:
    """Batches of a run of fixed ``batch``-sized batches."""
    return planned_batches(tenants, Params(batch, wait=0, ready_delay=0.0, version=""))


def ideal_seconds(tenants: int, params: Params) -> float:
    """The schedule with no overhead at all: every batch takes the rollout delay, and the
    wait comes between batches (not after the last, as in the script)."""
    return schedule(tenants, params).total_seconds


def default_timeout(tenants: int, params: Params) -> float:
    """Generous but finite: twice the ideal, plus 0.3 s per tenant (the script needed about
    0.2 s per tenant over the ideal here), plus a minute for start-up."""
    return 60.0 + 2.0 * ideal_seconds(tenants, params) + 0.3 * tenants


def shared_script() -> Path:
    """The guide's script in the shared folder beside the repository."""
    return REPO_ROOT.parent / "shared" / "reference" / "deploy-all-tenants.sh"


def rollbot_command() -> list[str]:
    """The installed ``rollbot`` entry point next to this interpreter, else the module."""
    installed = Path(sys.executable).parent / "rollbot"
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "bot.cli"]


def _clean_env() -> dict[str, str]:
    # Nothing from the caller's shell may point either side at another cluster, journal,
    # config or Slack workspace.
    drop = ("KUBECONFIG", "ROLLBOT_", "SLACK_", "REGISTRY_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def side_command(
    side: str, params: Params, *, sim: SimProcess, workdir: Path, script: Path
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one side, against ``sim``."""
    if side == "script" and params.extra:
        raise ValueError(f"the guide's script has no options like {' '.join(params.extra)}")
    env = _clean_env() | {"KUBECONFIG": str(sim.kubeconfig)}
    if side == "script":
        env |= {
            "IMAGE": params.image,
            "BATCH_SIZE": str(params.batch),
            "WAIT_TIME": str(params.wait),
            # A cache of our own: a warm ~/.kube/cache from earlier runs would flatter it.
            "KUBECACHEDIR": str(workdir / "kube-cache"),
        }
        return ["bash", str(script)], env
    env |= {
        "ROLLBOT_CONFIG": str(CONFIG),
        "ROLLBOT_DB": str(workdir / "rollbot.db"),
        "ROLLBOT_USER": BENCH_USER,
    }
    words = params.deploy_words()
    return [*rollbot_command(), "deploy", APP, params.version, *words, "--auto-approve"], env


def measure(
    command: Sequence[str], *, env: dict[str, str], workdir: Path, timeout: float
) -> dict[str, Any]:
    """Run ``command`` under bench/measure.py in a fresh wrapper process."""
    out = workdir / "measure.json"
    wrapper = [
        sys.executable, "-m", "bench.measure", "--out", str(out),
        "--log", str(workdir / "run.log"), "--timeout", str(timeout), "--", *command,
    ]
    subprocess.run(
        wrapper, env=env | {"PYTHONPATH": str(REPO_ROOT)}, cwd=workdir, check=True,
        timeout=timeout + MEASURE_GRACE_S,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def outcome(images: dict[str, dict[str, Any]], *, tenants: int, image: str) -> dict[str, Any]:
    """Did every tenant end on the new image, rolled out?"""
    done = sorted(ns for ns, d in images.items() if d["image"] == image and d["rolled_out"])
    missed = sorted(set(images) - set(done))
    return {
        "tenants_seen": len(images),
        "tenants_on_new_image": len(done),
        "all_on_new_image": len(done) == tenants == len(images),
        "not_on_new_image": missed[:20],
    }


def summarise(
    side: str, tenants: int, params: Params, *, measured: dict[str, Any],
    counters: dict[str, Any], done: dict[str, Any], sim_cpu_s: float, workdir: Path,
) -> dict[str, Any]:
    ideal = ideal_seconds(tenants, params)
    wall = float(measured["wall_s"])
    verbs = {k: int(v) for k, v in sorted(counters["verbs"].items())}
    result: dict[str, Any] = {
        "side": side,
        "tenants": tenants,
        "batches": planned_batches(tenants, params),
        "ideal_s": round(ideal, 3),
        "over_ideal_s": round(wall - ideal, 3),
        "over_ideal_pct": round(100.0 * (wall - ideal) / ideal, 1) if ideal else None,
        "requests_total": int(counters["total"]),
        "requests_by_verb": verbs,
        "requests_per_tenant": round(int(counters["total"]) / tenants, 2),
        "requests_per_tenant_by_verb": {k: round(v / tenants, 2) for k, v in verbs.items()},
        "requests_by_route": counters.get("routes", {}),
        "sim_cpu_s": sim_cpu_s,
        "log": str(workdir / "run.log"),
        **measured,
        **done,
    }
    if side == "rollbot":
        found = _ROLLOUT_ID.search((workdir / "run.log").read_text(errors="replace"))
        result["rollout_id"] = int(found.group(1)) if found else None
    result["ok"] = bool(
        result["exit_code"] == 0 and not result["timed_out"] and result["all_on_new_image"]
    )
    return result


def run_side(
    side: str, tenants: int, params: Params, *, script: Path, runs_dir: Path,
    timeout: float | None, budget: float = math.inf,
) -> dict[str, Any]:
    """One side on a fresh simulated cluster of ``tenants`` tenants."""
    workdir = runs_dir / f"{tenants}-{side}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    limit = min(timeout or default_timeout(tenants, params), budget)
    sim = SimProcess.for_fleet(
        rollbot_command(), tenants=tenants, ready_delay=params.ready_delay, workdir=workdir
    )
    load_before = os.getloadavg()[0]
    with sim:
        command, env = side_command(side, params, sim=sim, workdir=workdir, script=script)
        sim.reset_counters()
        cpu_before = sim.cpu_seconds()
        measured = measure(command, env=env, workdir=workdir, timeout=limit)
        counters = sim.counters()
        sim_cpu = round(sim.cpu_seconds() - cpu_before, 2)
        done = outcome(sim.tenant_images(), tenants=tenants, image=params.image)
    result = summarise(
        side, tenants, params, measured=measured, counters=counters, done=done,
        sim_cpu_s=sim_cpu, workdir=workdir,
    )
    # Other work on a shared machine skews wall time; the load average says how much.
    result["load_1m_before"] = round(load_before, 2)
    result["load_1m_after"] = round(os.getloadavg()[0], 2)
    result["timeout_s"] = round(limit, 1)
    return result


def _version_of(command: Sequence[str]) -> str:
    try:
        done = subprocess.run(
            list(command), check=False, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def machine_info() -> dict[str, Any]:
    kubectl = shutil.which("kubectl") or "kubectl"
    commit = _version_of(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"])
    # Several engineers share the work tree: say when the code run was not the commit.
    changed = _version_of(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--",
                           "bot", "rollout", "handlers", "sim"])
    if changed != "unknown":
        commit += " + uncommitted changes"
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "kubectl": _version_of([kubectl, "version", "--client"]),
        "kubectl_path": str(Path(kubectl).resolve()),
        "bash": _version_of(["bash", "--version"]),
        "rollbot_commit": commit,
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.fleet",
        description="rollbot against the guide's deploy-all-tenants.sh on simulated fleets.",
    )
    p.add_argument("--tenants", type=int, nargs="+", default=list(DEFAULT_TENANTS),
                   help="fleet sizes, each on a fresh cluster (default: 100 1000)")
    p.add_argument("--quick", action="store_true", help="100 tenants only")
    p.add_argument("--batch", type=int, default=10, help="tenants per batch (default 10)")
    p.add_argument("--wait", type=int, default=1, help="seconds between batches (default 1)")
    p.add_argument("--ready-delay", type=float, default=1.0,
                   help="seconds a simulated pod takes to become ready (default 1)")
    p.add_argument("--version", default="v1.3.0", help="the tag to roll out (default v1.3.0)")
    p.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES),
                   help="which sides to run (default both)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per run (default 60 + 2 x ideal + 0.3 s per tenant)")
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                   help="seconds for the whole benchmark; later runs are cut short or "
                        f"left out when it is spent (default {DEFAULT_BUDGET_S:.0f})")
    p.add_argument("--script", type=Path, default=None,
                   help="the guide's script (default ../shared/reference/deploy-all-tenants.sh)")
    p.add_argument("--out", type=Path, default=RESULTS / "fleet.json", help="JSON results")
    p.add_argument("--runs-dir", type=Path, default=RESULTS / "runs",
                   help="logs, kubeconfigs and journals of each run")
    return p


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Path:
    if args.batch < 1 or args.wait < 0 or args.ready_delay < 0:
        parser.error("--batch must be >= 1, --wait and --ready-delay >= 0")
    if any(n < 1 for n in args.tenants):
        parser.error("every --tenants size must be >= 1")
    script: Path = args.script or shared_script()
    if not script.is_file():
        parser.error(f"the guide's script is not at {script}; give --script PATH")
    return script.resolve()


def run_all(
    args: argparse.Namespace, params: Params, *, script: Path
) -> tuple[list[dict[str, Any]], str | None]:
    """Every fleet size, each side in turn, within the overall budget."""
    deadline = time.monotonic() + args.budget
    tenants = list(QUICK_TENANTS) if args.quick else args.tenants
    runs: list[dict[str, Any]] = []
    for n in tenants:
        for side in args.sides:
            left = deadline - time.monotonic()
            if left < MIN_RUN_S:
                return runs, f"budget of {args.budget:.0f} s spent before {n} tenants, {side}"
            print(f"[{n} tenants] {side} ...", file=sys.stderr, flush=True)
            run = run_side(side, n, params, script=script, runs_dir=args.runs_dir.resolve(),
                           timeout=args.timeout, budget=left)
            print(f"[{n} tenants] {side}: {report.one_line(run)}", file=sys.stderr, flush=True)
            runs.append(run)
    return runs, None


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    script = _check(args, parser)
    params = Params(args.batch, args.wait, args.ready_delay, args.version)
    machine = machine_info()  # before the runs: the commit they ran
    started = time.monotonic()
    runs, stopped = run_all(args, params, script=script)
    results = {
        "machine": machine,
        "parameters": {**asdict(params), "image": params.image,
                       "tenants": sorted({r["tenants"] for r in runs}),
                       "script": str(script), "config": str(CONFIG), "budget_s": args.budget},
        "rss_method": RSS_METHOD,
        "runs": runs,
        "stopped": stopped,
        "total_s": round(time.monotonic() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    if stopped:
        print(f"\nSTOPPED: {stopped}")
    print(f"\nJSON: {args.out}")
    return 0 if runs and not stopped and all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
