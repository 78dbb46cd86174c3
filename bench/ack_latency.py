"""Slack's three-second deadline under load: slash-command ack latency of `rollbot serve`.

A fresh simulated cluster (`rollbot sim`, a subprocess) with 200 tenants; `rollbot serve`
in HTTP mode (a subprocess, as in production) pointed at the Slack stand-in (in this
process). A 200-tenant rollout is started through `/deploy`; while it runs, rounds of N
concurrent signed slash commands (status, list, history, help, health, dry runs, bad
input, a conflicting deploy) are posted and the time to each HTTP answer is measured
from the client's side. Prints a table of ack latency percentiles per round and overall,
and writes `bench/results/ack_latency.json`. Run `python -m bench.ack_latency --help`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.simproc import SimProcess
from sim.slack import SlackHandle, start_slack

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results"
CHANNEL = "C0RELEASES"
USER = "U0BENCH"
DEADLINE_S = 3.0
START_TIMEOUT_S = 60.0
_SERVING = re.compile(r"rollbot serving .* on [\d.]+:(\d+)")
# A mix of what people type while a release runs; every one is answered privately.
COMMANDS = (
    "status",
    "status 1",
    "list",
    "history isp",
    "help",
    "health isp",
    "isp v1.3.1 batch=20 dry-run",
    "isp v1.4.0",  # refused: #1 is active
    "isp vNaN",  # a usage error
    "pause",  # a usage error: no ID
)

CONFIG = """
slack:
  release_channels: [{channel}]
registry:
  verify_images: false
apps:
  isp:
    strategy: rolling
    image: 123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac/isp-ops-app
    tenant_selector: app.kubernetes.io/component=tenant
    deployment: isp-ops-app
    container: frontend
    batch: {batch}
    wait: {wait}s
    pilot: 0
    pilot_monitor: 0s
    rollout_timeout: 5m
    approval: false
    four_eyes: false
    deployers: [{user}]
    approvers: [{user}]
"""


@dataclass(frozen=True)
class Round:
    index: int
    sent: int
    latencies: tuple[float, ...]
    statuses: tuple[int, ...]
    rollout_active: bool | None  # still running when the round ended; None: /healthz can't say
    health_problem: str | None = None  # why /healthz could not say

    @property
    def late(self) -> int:
        return sum(1 for s in self.latencies if s >= DEADLINE_S)

    @property
    def failed(self) -> int:
        return sum(1 for s in self.statuses if s != 200)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least q% of values at or below."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(latencies: Sequence[float]) -> dict[str, float]:
    return {
        "p50_s": percentile(latencies, 50),
        "p90_s": percentile(latencies, 90),
        "p99_s": percentile(latencies, 99),
        "max_s": max(latencies, default=math.nan),
    }


class ServeProcess:
    """`rollbot serve` over HTTP; its log goes to a file so it can never block on a pipe."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = log.open("wb")
        command = [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", "0"]
        self.proc = subprocess.Popen(
            command, env=env, cwd=REPO_ROOT, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        self.port = self._wait_port()

    def _wait_port(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            found = _SERVING.search(self.log.read_text(errors="replace"))
            if found:
                return int(found.group(1))
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"rollbot serve did not start (see {self.log})")

    def active_rollouts(self) -> tuple[int | None, str | None]:
        return healthz_active(f"http://127.0.0.1:{self.port}/healthz")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            return str(r.read().decode())

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode


def healthz_active(url: str) -> tuple[int | None, str | None]:
    """Active rollouts as /healthz counts them, or None and why when it answers unhealthy.

    Under load the journal read behind /healthz can time out (503): that is worth
    recording, but it must not throw away the latencies already measured."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(json.loads(answer.read())["active_rollouts"]), None
    except urllib.error.HTTPError as exc:
        with exc:
            body = exc.read()
        try:
            problem = str(json.loads(body).get("problem", ""))
        except (ValueError, AttributeError):
            problem = body[:200].decode(errors="replace")
        return None, f"HTTP {exc.code}: {problem}"


def one_round(slack: SlackHandle, url: str, *, index: int, concurrency: int) -> list[Any]:
    texts = [COMMANDS[(index * concurrency + i) % len(COMMANDS)] for i in range(concurrency)]
    with ThreadPoolExecutor(concurrency) as pool:
        sent = pool.map(
            lambda text: slack.send_slash_command(
                url, text=text, user_id=USER, channel_id=CHANNEL, timeout=30.0
            ),
            texts,
        )
        return list(sent)


def measured_round(
    slack: SlackHandle, bot: ServeProcess, url: str, *, index: int, args: argparse.Namespace
) -> Round:
    """One round of concurrent commands, then whether the rollout still runs."""
    sent = one_round(slack, url, index=index, concurrency=args.concurrency)
    active, problem = bot.active_rollouts()
    return Round(
        index=index + 1,
        sent=len(sent),
        latencies=tuple(s.elapsed for s in sent),
        statuses=tuple(s.status for s in sent),
        rollout_active=None if active is None else active > 0,
        health_problem=problem,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="rollbot-ack-"))
    if args.workdir:
        # A journal left by an earlier run would hold an active rollout: it must be new.
        workdir.mkdir(parents=True)
    config = workdir / "rollbot.yaml"
    config.write_text(CONFIG.format(channel=CHANNEL, user=USER, batch=args.batch, wait=args.wait))
    rollbot = [sys.executable, "-m", "bot.cli"]
    sim = SimProcess.for_fleet(
        rollbot, tenants=args.tenants, ready_delay=args.ready_delay, workdir=workdir
    )
    rounds: list[Round] = []
    with sim, start_slack(channels={CHANNEL: "releases"}) as slack:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ROLLBOT_"))}
        env |= {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "SLACK_API_URL": slack.api_url,
            "KUBECONFIG": str(sim.kubeconfig),
            "ROLLBOT_CONFIG": str(config),
            "ROLLBOT_DB": str(workdir / "rollbot.db"),
            "ROLLBOT_LOG_LEVEL": "INFO",
            "PYTHONPATH": str(REPO_ROOT),
        }
        bot = ServeProcess(env, workdir / "serve.log")
        try:
            url = f"http://127.0.0.1:{bot.port}/slack/events"
            started = slack.send_slash_command(
                url, text="isp v1.3.1", user_id=USER, channel_id=CHANNEL
            )
            if started.status != 200:
                raise RuntimeError(f"the rollout was not accepted: HTTP {started.status}")
            for index in range(args.rounds):
                rounds.append(measured_round(slack, bot, url, index=index, args=args))
                time.sleep(args.pause)
            server_side = bot.metrics()
        finally:
            exit_code = bot.stop()
    return report(args, rounds, server_side=server_side, exit_code=exit_code)


def report(
    args: argparse.Namespace, rounds: list[Round], *, server_side: str, exit_code: int | None
) -> dict[str, Any]:
    every = [s for r in rounds for s in r.latencies]
    return {
        "bench": "ack_latency",
        "tenants": args.tenants,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "deadline_s": DEADLINE_S,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "overall": {
            **summary(every),
            "requests": len(every),
            "late": sum(r.late for r in rounds),
            "failed": sum(r.failed for r in rounds),
            "during_rollout": sum(r.sent for r in rounds if r.rollout_active),
            "rounds_healthz_unhealthy": sum(1 for r in rounds if r.health_problem),
        },
        "per_round": [
            {**asdict(r), **summary(r.latencies), "late": r.late, "failed": r.failed}
            for r in rounds
        ],
        "server_ack_histogram": [
            line for line in server_side.splitlines() if line.startswith("rollbot_ack_seconds")
        ],
        "serve_exit_code": exit_code,
    }


def table(result: dict[str, Any]) -> str:
    head = f"{'round':>7} {'sent':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    head += f" {'late':>5} {'rollout':>8}"
    lines = [head, "-" * len(head)]

    def row(name: str, sent: int, s: dict[str, Any], late: int, active: str) -> str:
        ms = [f"{s[k] * 1000:8.1f}" for k in ("p50_s", "p90_s", "p99_s", "max_s")]
        return f"{name:>7} {sent:>5} {' '.join(ms)} {late:>5} {active:>8}"

    for r in result["per_round"]:
        running = {True: "running", False: "done", None: "unknown"}[r["rollout_active"]]
        lines.append(row(str(r["index"]), r["sent"], r, r["late"], running))
    overall = result["overall"]
    lines.append("-" * len(head))
    lines.append(row("all", overall["requests"], overall, overall["late"], ""))
    lines += [
        f"round {r['index']}: /healthz answered {r['health_problem']}"
        for r in result["per_round"] if r.get("health_problem")
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ack_latency", description=__doc__)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20, help="commands per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between rounds")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--wait", type=int, default=1, help="seconds between batches")
    parser.add_argument("--ready-delay", type=float, default=0.2, help="simulated rollout time")
    parser.add_argument("--out", type=Path, default=RESULTS / "ack_latency.json")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="a new directory for the config, journal and logs "
                             "(default: a new temp dir)")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = run(args)
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    overall = result["overall"]
    return 0 if overall["late"] == 0 and overall["failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
