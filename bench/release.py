"""The release benchmark: the build-and-push phase of `rollbot release` against the guide's
manual sequence, on the same fixture monorepo, engine and registry, side by side in one run.

- manual: in a fresh clone of the version's tag, `pnpm install --frozen-lockfile`,
  `pnpm --filter "./shared/packages/**" build`, `docker build` of admin, then of isp, then
  `docker push` of each, one command after the other (the docker CLI, with the classic
  builder, the one the Engine API's /build runs, which rollbot drives);
- rollbot: `rollbot release VERSION build-only` as a subprocess (install, shared build,
  both images at once, push, verify; no deploys), timed by its own journal: from the
  install step's start to the last push's end. Its `release.checks` is empty, so the
  checks step between the shared build and the images runs nothing, as the manual side.

Both sides start an engine and registry they share (`sim.docker`), a fresh version per
side and round (so no tag exists yet and each build's VERSION layer is rebuilt), the order
alternating by round; one untimed warm-up of each side first fills the caches both then
share (pnpm's store, the base layer in the registry). It prints a table and writes
`bench/results/release.json`. Run `python -m bench.release --help`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bench import fleet, release_cpu, release_table
from bench.measure import run_measured
from bot.store import SqliteStore
from rollout.release import Release, StepKind
from sim.docker import Engine, Registry, docker_engine, missing_needs, push_registry
from sim.kube.harness import SimHandle, start_sim
from sim.monorepo import APPS, make_monorepo

RESULTS = fleet.RESULTS
SIDES = ("manual", "rollbot")
GOAL = 0.7  # rollbot's build+push time over the manual sequence's, at most
NEEDS = ("dockerd", "docker-registry", "busybox", "pnpm", "git", "node", "docker")
STEP_TIMEOUT_S = 600.0
USER = "U0ALICE"
INSTALL = ["pnpm", "install", "--frozen-lockfile"]
SHARED_BUILD = ["pnpm", "--filter", "./shared/packages/**", "build"]


@dataclass(frozen=True)
class Bench:
    """What one run of the benchmark works with, shared by both sides."""

    engine: Engine
    registry: Registry
    repo: Path
    runs: Path
    kube: SimHandle
    docker_config: Path

    def image(self, app: str) -> str:
        return f"{self.registry.host}/bench/{APPS[app]}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.engine.host, "CI": "true",
                "REGISTRY_USERNAME": self.registry.user,
                "REGISTRY_PASSWORD": self.registry.password,
                "DOCKER_CONFIG": str(self.docker_config), "DOCKER_BUILDKIT": "0"}


def config_data(bench: Bench) -> dict[str, Any]:
    """rollbot.yaml for the bench: both apps built from the fixture monorepo."""
    def app(name: str) -> dict[str, Any]:
        folder = APPS[name]
        return {"image": bench.image(name), "container": "frontend",
                "deployers": [USER], "approvers": ["U0BOB"],
                "build": {"dockerfile": f"apps/{folder}/Dockerfile", "context": ".",
                          "package_json": f"apps/{folder}/package.json",
                          "args": {"BASE_IMAGE": bench.engine.base_image}}}

    return {
        "registry": {"verify_images": True, "insecure": True},
        "apps": {
            "admin": {**app("admin"), "strategy": "blue-green", "namespace": "platform-admin",
                      "deployment": "platform-admin-app", "service": "platform-admin-app",
                      "config_map": "platform-admin-config"},
            "isp": {**app("isp"), "strategy": "rolling", "deployment": "isp-ops-app"},
        },
        # No checks: the guide's manual sequence runs none between the shared build and the
        # images, and the checks step would otherwise sit inside rollbot's timed span.
        "release": {"repo": str(bench.repo), "order": ["admin", "isp"], "timeout": "10m",
                    "checks": []},
    }


# -- one side's run ----------------------------------------------------------------------------


def run_manual(bench: Bench, version: str, folder: Path) -> dict[str, Any]:
    """The guide's sequence in a fresh clone of the tag, each command timed on its own."""
    work = folder / "checkout"
    subprocess.run(["git", "clone", "-q", "--branch", version, str(bench.repo), str(work)],
                   check=True, capture_output=True, timeout=120)
    commands: list[tuple[str, list[str]]] = [("install", INSTALL),
                                             ("shared-build", SHARED_BUILD)]
    commands += [(f"image:{app}", _docker_build(bench, app, version)) for app in APPS]
    commands += [(f"push:{app}", ["docker", "push", "-q", f"{bench.image(app)}:{version}"])
                 for app in APPS]
    steps: dict[str, float] = {}
    started = time.monotonic()
    with _cwd(work), _environ(bench.env()):
        for name, command in commands:
            result = run_measured(command, log=folder / f"{name.replace(':', '-')}.log",
                                  timeout=STEP_TIMEOUT_S)
            steps[name] = result["wall_s"]
            if result["exit_code"] != 0:
                return _side("manual", version, steps, started, ok=False,
                             error=f"{' '.join(command)} exited {result['exit_code']}")
    return _side("manual", version, steps, started, ok=True)


def _docker_build(bench: Bench, app: str, version: str) -> list[str]:
    folder = APPS[app]
    return ["docker", "build", "-q", "-f", f"apps/{folder}/Dockerfile",
            "--build-arg", f"BASE_IMAGE={bench.engine.base_image}",
            "--build-arg", f"VERSION={version}", "-t", f"{bench.image(app)}:{version}", "."]


def _side(side: str, version: str, steps: dict[str, float], started: float, *, ok: bool,
          error: str = "") -> dict[str, Any]:
    phases = {"install": steps.get("install"), "shared_build": steps.get("shared-build"),
              "images": _sum(steps, "image:"), "push": _sum(steps, "push:")}
    total = sum(v for v in phases.values() if v is not None)
    return {"side": side, "version": version, "ok": ok, "error": error, "steps": steps,
            "phases": phases, "build_push_s": round(total, 3),
            "wall_s": round(time.monotonic() - started, 3), "images_overlap_s": 0.0}


def _sum(steps: dict[str, float], prefix: str) -> float | None:
    found = [s for name, s in steps.items() if name.startswith(prefix)]
    return round(sum(found), 3) if found else None


def run_rollbot(bench: Bench, version: str, folder: Path) -> dict[str, Any]:
    """`rollbot release VERSION build-only` in a fresh process and journal."""
    config, db = folder / "rollbot.yaml", folder / "rollbot.db"
    config.write_text(yaml.safe_dump(config_data(bench), sort_keys=False))
    env = {**bench.env(), "ROLLBOT_CONFIG": str(config), "ROLLBOT_DB": str(db),
           "KUBECONFIG": str(bench.kube.kubeconfig), "ROLLBOT_USER": USER}
    command = [sys.executable, "-m", "bot.cli", "release", version, "build-only"]
    with _environ(env):
        result = run_measured(command, log=folder / "rollbot.log", timeout=STEP_TIMEOUT_S)
    with SqliteStore(db) as store:
        release = store.releases.get_release(1)
    ok = result["exit_code"] == 0 and release is not None
    error = "" if ok else f"rollbot exited {result['exit_code']}: see {folder / 'rollbot.log'}"
    return _rollbot_side(version, release, ok=ok, error=error, wall=result["wall_s"])


def _rollbot_side(version: str, release: Release | None, *, ok: bool, error: str,
                  wall: float) -> dict[str, Any]:
    """The release's own timings: each phase from its first step's start to its last
    step's end (the images and the pushes run at the same time)."""
    kinds = {"install": (StepKind.INSTALL,), "shared_build": (StepKind.SHARED_BUILD,),
             "images": (StepKind.IMAGE,), "push": (StepKind.PUSH,),
             "build_push": (StepKind.INSTALL, StepKind.SHARED_BUILD, StepKind.IMAGE,
                            StepKind.PUSH)}
    spans = {name: _span(release, wanted) for name, wanted in kinds.items()}
    steps = {} if release is None else {s.key: s.seconds for s in release.steps}
    total = spans.pop("build_push")
    return {"side": "rollbot", "version": version, "ok": ok and total is not None,
            "error": error, "steps": steps, "phases": spans, "build_push_s": total,
            "wall_s": wall, "images_overlap_s": _overlap(release, StepKind.IMAGE)}


def _overlap(release: Release | None, kind: StepKind) -> float | None:
    """How long the steps of `kind` all ran at once (0 when one ended before another began)."""
    if release is None:
        return None
    steps = release.steps_of(kind)
    starts = [s.started_at for s in steps if s.started_at is not None]
    ends = [s.finished_at for s in steps if s.finished_at is not None]
    if not steps or len(starts) < len(steps) or len(ends) < len(steps):
        return None
    return round(max(0.0, (min(ends) - max(starts)).total_seconds()), 3)


def _span(release: Release | None, kinds: tuple[StepKind, ...]) -> float | None:
    if release is None:
        return None
    steps = [s for kind in kinds for s in release.steps_of(kind)]
    starts = [s.started_at for s in steps if s.started_at is not None]
    ends = [s.finished_at for s in steps if s.finished_at is not None]
    if not steps or len(starts) < len(steps) or len(ends) < len(steps):
        return None
    return round((max(ends) - min(starts)).total_seconds(), 3)


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    """run_measured passes on this process's environment; set the side's for its run."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# -- the rounds --------------------------------------------------------------------------------


class Versions:
    """A new version for every side's run: no tag exists yet, and each image's VERSION layer
    is built anew. The monorepo is rewritten, committed and tagged with it (untimed)."""

    def __init__(self, repo: Path) -> None:
        self.repo, self.count = repo, 0

    def next(self) -> str:
        self.count += 1
        version = f"v1.4.{self.count}"
        make_monorepo(self.repo, version=version)
        return version


Runner = Callable[[Bench, str, Path], dict[str, Any]]


def play(bench: Bench, *, rounds: int, warmup: bool) -> list[dict[str, Any]]:
    versions = Versions(bench.repo)
    runners: dict[str, Runner] = {"manual": run_manual, "rollbot": run_rollbot}
    if warmup:
        for side in SIDES:
            _one(bench, runners, side, versions, label="warmup")
    results = []
    for number in range(1, rounds + 1):
        # Alternate who goes first: a noisy neighbour then hurts both sides alike.
        order = SIDES if number % 2 else SIDES[::-1]
        for side in order:
            run = _one(bench, runners, side, versions, label=f"round{number}")
            run["round"] = number
            results.append(run)
            print(release_table.one_line(run), flush=True)
    return results


def _one(bench: Bench, runners: dict[str, Runner], side: str, versions: Versions, *,
         label: str) -> dict[str, Any]:
    version = versions.next()
    folder = bench.runs / f"{label}-{side}"
    folder.mkdir(parents=True, exist_ok=True)
    before, cpu = os.getloadavg()[0], release_cpu.snapshot(bench.engine.pid)
    run = runners[side](bench, version, folder)
    run.update(load_1m_before=round(before, 2), load_1m_after=round(os.getloadavg()[0], 2),
               log_dir=str(folder), cpu=release_cpu.snapshot(bench.engine.pid).since(cpu))
    return run


def summary(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians per side and phase, and the ratio rollbot/manual of the build+push medians."""
    medians: dict[str, dict[str, float | None]] = {}
    for side in SIDES:
        mine = [r for r in runs if r["side"] == side and r["ok"]]
        phases = {k for r in mine for k in r["phases"]}
        medians[side] = {k: _median([r["phases"][k] for r in mine]) for k in sorted(phases)}
        medians[side]["build_push"] = _median([r["build_push_s"] for r in mine])
        medians[side]["images_overlap"] = _median([r.get("images_overlap_s") for r in mine])
        for part in ("client_s", "engine_s"):
            medians[side][f"cpu_{part}"] = _median([r["cpu"][part] for r in mine
                                                     if "cpu" in r])
    manual, rollbot = medians["manual"]["build_push"], medians["rollbot"]["build_push"]
    ratio = round(rollbot / manual, 3) if manual and rollbot is not None else None
    return {"medians": medians, "ratio": ratio, "goal": GOAL,
            "goal_met": ratio is not None and ratio <= GOAL}


def _median(values: Sequence[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return round(statistics.median(found), 3) if found else None


@contextmanager
def bench_stage(runs: Path) -> Iterator[Bench]:
    """The engine, the registry, the fixture monorepo and a small simulated cluster (only
    for rollbot's kubeconfig: build-only deploys nothing); all stopped at the end."""
    home = Path(tempfile.mkdtemp(prefix="rollbot-bench-release-"))
    try:
        with docker_engine() as engine, push_registry() as registry, \
                start_sim(tenants=1) as kube:
            bench = Bench(engine, registry, home / "frontend", runs, kube, home / "docker")
            subprocess.run(["docker", "login", "-u", registry.user, "--password-stdin",
                            registry.host], input=registry.password.encode(), check=True,
                           capture_output=True, timeout=60, env=bench.env())
            yield bench
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.release",
        description="rollbot release build-only against the guide's manual build and push.")
    p.add_argument("--rounds", type=int, default=5, help="rounds, order alternating (5)")
    p.add_argument("--no-warmup", action="store_true",
                   help="skip the untimed first run of each side")
    p.add_argument("--out", type=Path, default=RESULTS / "release.json")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    lacking = missing_needs(NEEDS)
    if lacking:
        print(f"bench.release needs a Docker engine, docker-registry, pnpm and the docker CLI: "
              f"run scripts/setup as root; missing here: {', '.join(lacking)}", file=sys.stderr)
        return 2
    runs_dir = args.out.parent / "runs" / "release"
    shutil.rmtree(runs_dir, ignore_errors=True)
    started = datetime.now(UTC)
    with bench_stage(runs_dir) as bench:
        runs = play(bench, rounds=args.rounds, warmup=not args.no_warmup)
    results = {"benchmark": "release", "started": started.isoformat(timespec="seconds"),
               "parameters": {"rounds": args.rounds, "warmup": not args.no_warmup},
               "machine": fleet.machine_info(), "runs": runs, **summary(runs)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(release_table.table(results))
    print(f"results: {args.out}")
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
