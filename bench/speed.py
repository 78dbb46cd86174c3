"""The speed table: every speed and load figure of rollbot, measured side by side in one run.

Each figure has a goal; comparing figures taken on different days, under different load,
says little, so this runs them all in one invocation, one after another, each rollout on
a fresh simulated cluster (``bench.fleet.run_side``, rollbot only):

1. 100 tenants, batch 5, pilot 0, pods ready 0.3 s after a patch;
2. 1,000 tenants, batch 10, wait 1 s, ready 1 s (the long one; ``--skip-long``);
3. 1,000 tenants with ``waves=double`` against fixed batches of 5, ready 0.3 s;
4. one batch of 500 tenants, ready 0.3 s;
5. Kubernetes requests per tenant, by verb, of run 1;
6. ack p99 of ``bench.ack_latency`` at 1,000 tenants, first round included;
7. 10,000 tenants, batch 2,000, pods ready at once: wall time and peak RSS.

It prints the table (``bench.speed_table``) and writes ``bench/results/speed.json`` with
every number, the machine, the commit and the 1-minute load average around each run.
``--quick`` runs figures 1, 4 and 5 only. Run ``python -m bench.speed --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import ack_latency, fleet, report, speed_table
from bench.fleet import Params
from bench.measure import METHOD as RSS_METHOD
from bench.simproc import SimError

RESULTS = fleet.RESULTS
VERSION = "v1.3.0"
ACK_TENANTS = 1000
QUICK_FIGURES = (1, 4, 5)
LONG_FIGURE = 2
# The goals of the speed table, as the figures are judged against them.
SMALL_OVER_IDEAL = 0.20
LONG_OVER_IDEAL = 0.03
WAVES_SOONER = 10.0
ONE_BATCH_S = 5.0
REQUESTS_PER_TENANT = 9.0
ACK_P99_S = 0.300
HUGE_WALL_S = 60.0
HUGE_RSS_BYTES = 150_000_000


@dataclass(frozen=True)
class Fleet:
    """One rollbot rollout on a fresh simulated cluster."""

    name: str
    tenants: int
    params: Params


FLEETS = {
    f.name: f
    for f in (
        Fleet("batch5", 100, Params(batch=5, wait=0, ready_delay=0.3, version=VERSION)),
        Fleet("long", 1000, Params(batch=10, wait=1, ready_delay=1.0, version=VERSION)),
        # The whole fleet as the cap: the doubling runs 1, 2, 4, ... until all are done.
        Fleet("double", 1000, Params(batch=1000, wait=0, ready_delay=0.3, version=VERSION,
                                     extra=("waves=double",))),
        Fleet("fixed5", 1000, Params(batch=5, wait=0, ready_delay=0.3, version=VERSION)),
        Fleet("one-batch", 500, Params(batch=500, wait=0, ready_delay=0.3, version=VERSION)),
        Fleet("huge", 10000, Params(batch=2000, wait=0, ready_delay=0.0, version=VERSION)),
    )
}
ACK = "ack"
# Which runs each figure reads, in the order the runs happen.
NEEDS: dict[int, tuple[str, ...]] = {
    1: ("batch5",), 2: ("long",), 3: ("double", "fixed5"), 4: ("one-batch",),
    5: ("batch5",), 6: (ACK,), 7: ("huge",),
}
RUN_ORDER = ("batch5", "long", "double", "fixed5", "one-batch", ACK, "huge")
# What a figure is called when it has no number to show.
TITLES = {
    1: "100 tenants, batch 5, pilot 0, ready 0.3 s",
    2: "1,000 tenants, batch 10, wait 1 s, ready 1 s",
    3: "1,000 tenants, waves=double against batch=5, ready 0.3 s",
    4: "one batch of 500 tenants, ready 0.3 s",
    5: "Kubernetes requests per tenant",
    6: "ack p99 at 1,000 tenants, first round included",
    7: "10,000 tenants, batch 2,000, pods ready at once: wall time and peak RSS",
}

Runs = dict[str, dict[str, Any]]


def left_out(*, quick: bool, skip_long: bool) -> dict[int, str]:
    """The figures this run leaves out, and why."""
    out = {n: "left out by --quick" for n in NEEDS if quick and n not in QUICK_FIGURES}
    if skip_long:
        out.setdefault(LONG_FIGURE, "left out by --skip-long")
    return out


def chosen_runs(figures: Sequence[int]) -> tuple[str, ...]:
    wanted = {name for n in figures for name in NEEDS[n]}
    return tuple(name for name in RUN_ORDER if name in wanted)


def fleet_size(tenants: int, max_tenants: int | None) -> int:
    return tenants if max_tenants is None else min(tenants, max_tenants)


def _loaded(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()`` with the load average around it; a run that could not happen is a result."""
    before = os.getloadavg()[0]
    started = time.monotonic()
    try:
        result = run()
    except (SimError, OSError, RuntimeError, subprocess.SubprocessError) as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                  "wall_s": round(time.monotonic() - started, 3)}
    result.setdefault("load_1m_before", round(before, 2))
    result.setdefault("load_1m_after", round(os.getloadavg()[0], 2))
    return result


def run_fleet(spec: Fleet, *, tenants: int, runs_dir: Path) -> dict[str, Any]:
    def go() -> dict[str, Any]:
        return fleet.run_side(
            "rollbot", tenants, spec.params, script=fleet.shared_script(),
            runs_dir=runs_dir / spec.name, timeout=None,
        )

    planned = {"tenants": tenants, "ideal_s": round(fleet.ideal_seconds(tenants, spec.params), 3)}
    return planned | _loaded(go) | {
        "name": spec.name, "words": spec.params.deploy_words(), "batch": spec.params.batch,
        "ready_delay_s": spec.params.ready_delay,
    }


def run_ack(*, tenants: int, rounds: int, concurrency: int, runs_dir: Path) -> dict[str, Any]:
    workdir = runs_dir / ACK
    shutil.rmtree(workdir, ignore_errors=True)
    args = ack_latency.parse_args([
        "--tenants", str(tenants), "--rounds", str(rounds),
        "--concurrency", str(concurrency), "--workdir", str(workdir),
    ])

    def go() -> dict[str, Any]:
        started = time.monotonic()
        result = ack_latency.run(args)
        overall = result["overall"]
        return result | {"wall_s": round(time.monotonic() - started, 3),
                         "ok": overall["failed"] == 0 and overall["late"] == 0,
                         "table": ack_latency.table(result)}

    return _loaded(go) | {"name": ACK, "tenants": tenants, "log": str(workdir / "serve.log")}


def run_all(args: argparse.Namespace, names: Sequence[str]) -> Runs:
    runs: Runs = {}
    runs_dir = args.runs_dir.resolve()
    for name in names:
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        if name == ACK:
            runs[name] = run_ack(
                tenants=fleet_size(ACK_TENANTS, args.max_tenants), rounds=args.ack_rounds,
                concurrency=args.ack_concurrency, runs_dir=runs_dir,
            )
            print(f"[{name}] {speed_table.ack_line(runs[name])}", file=sys.stderr, flush=True)
            continue
        spec = FLEETS[name]
        runs[name] = run_fleet(spec, tenants=fleet_size(spec.tenants, args.max_tenants),
                               runs_dir=runs_dir)
        line = report.one_line(runs[name]) if "error" not in runs[name] else runs[name]["error"]
        print(f"[{name}] {line}", file=sys.stderr, flush=True)
    return runs


# --- the figures, each judged against its goal -----------------------------------------------


def _figure(number: int, what: str, *, value: float | None, unit: str, measured: str,
            goal: str, met: bool | None, runs: Sequence[str], detail: str = "") -> dict[str, Any]:
    return {"figure": number, "what": what, "value": value, "unit": unit, "measured": measured,
            "goal": goal, "met": met, "runs": list(runs), "detail": detail}


def _failed(runs: Runs, names: Sequence[str]) -> str | None:
    """Why a figure has no number: a run it reads did not finish with every tenant updated."""
    for name in names:
        run = runs[name]
        if "error" in run:
            return f"{name}: {run['error']}"
        if not run["ok"]:
            return f"{name} did not finish cleanly (see {run.get('log', 'its log')})"
    return None


def _over_ideal(number: int, run: dict[str, Any], allowed: float, what: str) -> dict[str, Any]:
    ideal, wall = run["ideal_s"], run["wall_s"]
    limit = ideal * (1 + allowed)
    over = f" ({100 * (wall - ideal) / ideal:+.0f}%)" if ideal else ""
    return _figure(number, f"{what} (ideal {ideal:.1f} s)", value=wall, unit="s",
                   measured=f"{wall:.1f} s{over}", goal=f"≤ {limit:.1f} s (+{allowed:.0%})",
                   met=wall <= limit, runs=[run["name"]])


def _fleet_words(run: dict[str, Any]) -> str:
    return f"{run['tenants']:,} tenants, {' '.join(run['words'])}, ready {run['ready_delay_s']} s"


def figure_1(runs: Runs) -> dict[str, Any]:
    return _over_ideal(1, runs["batch5"], SMALL_OVER_IDEAL, _fleet_words(runs["batch5"]))


def figure_2(runs: Runs) -> dict[str, Any]:
    return _over_ideal(2, runs["long"], LONG_OVER_IDEAL, _fleet_words(runs["long"]))


def figure_3(runs: Runs) -> dict[str, Any]:
    double, fixed = runs["double"], runs["fixed5"]
    sooner = fixed["wall_s"] / double["wall_s"]
    what = (f"{double['tenants']:,} tenants, waves=double against batch=5, ready "
            f"{double['ready_delay_s']} s (ideal {double['ideal_s']:.1f} s vs "
            f"{fixed['ideal_s']:.1f} s)")
    measured = f"{double['wall_s']:.1f} s vs {fixed['wall_s']:.1f} s: {sooner:.1f}× sooner"
    return _figure(3, what, value=round(sooner, 2), unit="×", measured=measured,
                   goal=f"≥ {WAVES_SOONER:.0f}× sooner", met=sooner >= WAVES_SOONER,
                   runs=["double", "fixed5"])


def figure_4(runs: Runs) -> dict[str, Any]:
    run = runs["one-batch"]
    return _figure(4, f"one batch of {run['tenants']:,} tenants, ready {run['ready_delay_s']} s",
                   value=run["wall_s"], unit="s", measured=f"{run['wall_s']:.1f} s",
                   goal=f"≤ {ONE_BATCH_S:.0f} s", met=run["wall_s"] <= ONE_BATCH_S,
                   runs=["one-batch"])


def figure_5(runs: Runs) -> dict[str, Any]:
    run = runs["batch5"]
    per = run["requests_per_tenant"]
    verbs = ", ".join(f"{v} {n:.2f}" for v, n in run["requests_per_tenant_by_verb"].items())
    return _figure(5, f"Kubernetes requests per tenant (run 1, {run['tenants']:,} tenants)",
                   value=per, unit="requests", measured=f"{per:.2f}",
                   goal=f"≤ {REQUESTS_PER_TENANT:.0f}", met=per <= REQUESTS_PER_TENANT,
                   runs=["batch5"], detail=verbs)


def figure_6(runs: Runs) -> dict[str, Any]:
    run = runs[ACK]
    overall = run["overall"]
    p99 = overall["p99_s"]
    what = (f"ack p99, bench.ack_latency ({overall['requests']} commands, "
            f"{run['concurrency']} at a time) at {run['tenants']:,} tenants, first round included")
    return _figure(6, what, value=round(p99, 4), unit="s", measured=f"{p99 * 1000:.0f} ms",
                   goal=f"≤ {ACK_P99_S * 1000:.0f} ms", met=p99 <= ACK_P99_S, runs=[ACK],
                   detail=_ack_detail(overall))


def _ack_detail(overall: dict[str, Any]) -> str:
    detail = f"max {overall['max_s'] * 1000:.0f} ms, {overall['late']} late"
    unhealthy = overall.get("rounds_healthz_unhealthy", 0)
    rounds = "round" if unhealthy == 1 else "rounds"
    return detail + (f", /healthz unhealthy after {unhealthy} {rounds}" if unhealthy else "")


def figure_7(runs: Runs) -> list[dict[str, Any]]:
    run = runs["huge"]
    what = f"{run['tenants']:,} tenants, batch {run['batch']:,}, pods ready at once"
    rss = run["max_rss_kb"] * 1024
    return [
        _figure(7, f"{what}: wall time", value=run["wall_s"], unit="s",
                measured=f"{run['wall_s']:.1f} s", goal=f"≤ {HUGE_WALL_S:.0f} s",
                met=run["wall_s"] <= HUGE_WALL_S, runs=["huge"]),
        _figure(7, f"{what}: peak RSS", value=round(rss / 2**20, 1), unit="MiB",
                measured=f"{rss / 2**20:.1f} MiB", goal=f"≤ {HUGE_RSS_BYTES / 2**20:.0f} MiB "
                f"({HUGE_RSS_BYTES / 1e6:.0f} MB)", met=rss <= HUGE_RSS_BYTES, runs=["huge"]),
    ]


JUDGES: dict[int, Callable[[Runs], dict[str, Any] | list[dict[str, Any]]]] = {
    1: figure_1, 2: figure_2, 3: figure_3, 4: figure_4, 5: figure_5, 6: figure_6, 7: figure_7,
}


def figures(runs: Runs, skipped: dict[int, str]) -> list[dict[str, Any]]:
    """Every figure of the table: judged, or saying why it has no number."""
    out: list[dict[str, Any]] = []
    for number, needs in NEEDS.items():
        why_not = skipped.get(number) or _failed(runs, needs)
        if why_not:
            out.append(_figure(number, TITLES[number], value=None, unit="", measured="-",
                               goal="-", met=None, runs=needs, detail=why_not))
            continue
        judged = JUDGES[number](runs)
        out += judged if isinstance(judged, list) else [judged]
    return out


# --- the command -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.speed",
        description="Every figure of rollbot's speed table in one run, each against its goal. "
                    "Exits 0 when every run finished with every tenant on the new image "
                    "and every Slack command was answered 200 within 3 s, whether or not "
                    "the goals were met.",
    )
    p.add_argument("--quick", action="store_true", help="figures 1, 4 and 5 only")
    p.add_argument("--skip-long", action="store_true",
                   help="leave out figure 2 (1,000 tenants, about 4 minutes)")
    p.add_argument("--max-tenants", type=int, default=None,
                   help="cap every fleet at this many tenants, for a smoke test; the goals "
                        "are for the full sizes")
    p.add_argument("--ack-rounds", type=int, default=5, help="figure 6: rounds (default 5)")
    p.add_argument("--ack-concurrency", type=int, default=20,
                   help="figure 6: commands per round (default 20)")
    p.add_argument("--out", type=Path, default=RESULTS / "speed.json", help="JSON results")
    p.add_argument("--runs-dir", type=Path, default=RESULTS / "speed-runs",
                   help="logs, kubeconfigs and journals of each run")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    args = parser.parse_args(words)
    cap = 1 if args.max_tenants is None else args.max_tenants
    if min(cap, args.ack_rounds, args.ack_concurrency) < 1:
        parser.error("--max-tenants, --ack-rounds and --ack-concurrency must be >= 1")
    skipped = left_out(quick=args.quick, skip_long=args.skip_long)
    machine = fleet.machine_info()  # before the runs: the commit they ran
    started_at, started = datetime.now(UTC), time.monotonic()
    runs = run_all(args, chosen_runs([n for n in NEEDS if n not in skipped]))
    results = {
        "bench": "speed",
        "command": " ".join(["python -m bench.speed", *words]),
        "started_at": started_at.isoformat(timespec="seconds"),
        "commit": machine["rollbot_commit"],
        "machine": machine,
        "scaled_to": args.max_tenants,
        "figures": figures(runs, skipped),
        "runs": runs,
        "rss_method": RSS_METHOD,
        "total_s": round(time.monotonic() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(speed_table.table(results))
    print(f"\nJSON: {args.out}")
    return 0 if all(run["ok"] for run in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
