"""Helpers for the terminal-face tests: a simulated cluster in its own process, a test
config, and `rollbot` verbs run as real subprocesses against one journal.

The CLI tests exercise rollbot the way an operator does: `rollbot sim` in one process,
`rollbot deploy` in another, `rollbot approve` from a third. Everything the tests observe
comes from outside the bot: exit codes, printed text, the simulator's request counters
and object state (over its `/_sim/` control API), and the journal file.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot import terminal
from bot.store import SqliteStore
from rollout.model import Rollout

REPO = Path(__file__).resolve().parents[2]
ROLLBOT = (sys.executable, "-m", "bot.cli")  # `rollbot`, as this checkout runs it
ISP_IMAGE = "123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac/isp-ops-app"
OLD_VERSION = "v1.2.3"
APPROVER = "U0BOB"
DEPLOYER = "U0ALICE"
CLI_TIMEOUT = 60.0  # no single verb in these tests should get anywhere near this
START_TIMEOUT = 15.0

_T = TypeVar("_T")


def wait_for(
    probe: Callable[[], _T | None], *, timeout: float, what: str, every: float = 0.02
) -> _T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout`.

    The other side is another process, so there is no event to wait on; polling a
    condition with a deadline is the closest thing, and it never hangs."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


# --- the simulated cluster, as a subprocess ------------------------------------------------


@dataclass
class Sim:
    """`rollbot sim` running in its own process, driven over its control API."""

    process: subprocess.Popen[str]
    url: str
    kubeconfig: Path

    def control(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """Call the sim's `/_sim/` control API; an empty answer reads as None."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/_sim/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read() or b"null")

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control("GET", "counters")
        return result

    def reset_counters(self) -> None:
        self.control("DELETE", "counters")

    def patches(self) -> dict[str, int]:
        """Deployment patches per namespace since the last reset."""
        spaces = self.counters()["namespaces"]
        return {ns: verbs.get("patch", 0) for ns, verbs in spaces.items() if verbs.get("patch")}

    def writes(self) -> int:
        """Requests that change the cluster: an access review is POSTed, but only asks."""
        counters = self.counters()
        verbs, reviews = counters["verbs"], counters["resources"].get(
            "selfsubjectaccessreviews", {})
        writes = sum(verbs.get(v, 0) for v in ("create", "update", "patch", "delete"))
        return writes - reviews.get("create", 0)

    def set_behaviour(self, namespace: str, tag: str, behaviour: str) -> None:
        self.control(
            "POST", "behaviours", {"namespace": namespace, "tag": tag, "behaviour": behaviour}
        )

    def deployments(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.control("GET", "state")["deployments"]
        return result

    def tenant_images(self) -> dict[str, str]:
        """Image of isp-ops-app in every tenant namespace."""
        return {
            d["namespace"]: d["image"]
            for d in self.deployments()
            if d["name"] == "isp-ops-app" and d["namespace"].startswith("tenant-")
        }

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it lingers; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def _first_line(process: subprocess.Popen[str], *, timeout: float, log: Path) -> str:
    """The sim's start-up line, read on a helper thread so a silent sim cannot hang us."""
    box: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        box.append(process.stdout.readline())
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(timeout) or not box or not box[0]:
        process.kill()
        process.wait(timeout=10)
        pytest.fail(f"rollbot sim printed no start-up line: {log.read_text()}", pytrace=False)
    return box[0]


@contextmanager
def running_sim(
    tmp: Path,
    *,
    tenants: int,
    ready_delay: float = 0.05,
    deadline_scale: float = 0.01,
    start_timeout: float = START_TIMEOUT,
    empty_tenants: bool = False,
) -> Iterator[Sim]:
    """`rollbot sim` with `tenants` tenants (without the app when `empty_tenants`),
    writing its kubeconfig and its stderr (`sim.log`) into `tmp`; stopped on the way out."""
    kubeconfig = tmp / "kubeconfig"
    log = tmp / "sim.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [
                *ROLLBOT,
                "sim",
                "--tenants",
                str(tenants),
                "--kubeconfig",
                str(kubeconfig),
                "--ready-delay",
                str(ready_delay),
                "--deadline-scale",
                str(deadline_scale),
                *(["--empty-tenants"] if empty_tenants else []),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    line = _first_line(process, timeout=start_timeout, log=log)
    url = next(word for word in line.split() if word.startswith("http://"))
    sim = Sim(process=process, url=url, kubeconfig=kubeconfig)
    try:
        yield sim
    finally:
        sim.stop()


# --- configuration -------------------------------------------------------------------------


def write_config(
    path: Path,
    *,
    admin: dict[str, Any] | None = None,
    health: dict[str, Any] | None = None,
    **isp: Any,
) -> Path:
    """A rollbot.yaml with short windows so a rollout takes seconds; `isp` overrides keys
    of the rolling app (e.g. auto_rollback=True), `admin` those of the blue-green app,
    `health` those of `health:`."""
    isp_app: dict[str, Any] = {
        "strategy": "rolling",
        "image": ISP_IMAGE,
        "tenant_selector": "app.kubernetes.io/component=tenant",
        "deployment": "isp-ops-app",
        "container": "frontend",
        "batch": 5,
        "wait": "0s",
        "pilot": 2,
        "pilot_monitor": "1s",
        "rollout_timeout": "20s",
        "approval": True,
        "approvals_required": 1,
        "four_eyes": True,
        "approval_timeout": "10m",
        "auto_rollback": False,
        "error_rate": "5%",
        "deployers": [DEPLOYER, APPROVER],
        # The deployer approves too, so four-eyes (not the list) is what stops self-approval.
        "approvers": [APPROVER, DEPLOYER],
    }
    isp_app.update(isp)
    config: dict[str, Any] = {
        "slack": {"release_channels": []},
        "registry": {"verify_images": False, "insecure": True},
        "apps": {
            "admin": {
                "strategy": "blue-green",
                "image": "123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac/platform-admin-app",
                "namespace": "platform-admin",
                "deployment": "platform-admin-app",
                "service": "platform-admin-app",
                "container": "frontend",
                "config_map": "platform-admin-config",
                "monitor": "1s",
                "approval": False,
                "deployers": [DEPLOYER],
                "approvers": [APPROVER],
                **(admin or {}),
            },
            "isp": isp_app,
        },
        "health": {
            "port": 3000,
            "path": "/api/health",
            "ready_path": "/api/ready",
            **(health or {}),
        },
    }
    # JSON is YAML; it keeps this file free of a YAML writer.
    path.write_text(json.dumps(config, indent=2))
    return path


# --- the rollbot command, as subprocesses ---------------------------------------------------


@dataclass
class Background:
    """A `rollbot` verb left running (e.g. `deploy` waiting at its gate)."""

    process: subprocess.Popen[bytes]
    out_path: Path
    err_path: Path

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def errors(self) -> str:
        return self.err_path.read_text(errors="replace")

    def finish(self, timeout: float = CLI_TIMEOUT) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(
                f"rollbot did not finish in {timeout}s\n--- out\n{self.output()}\n"
                f"--- err\n{self.errors()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last journal write, as in a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@dataclass
class Rollbot:
    """Runs `rollbot` verbs with one config, one journal and one cluster."""

    tmp: Path
    config: Path
    db: Path
    kubeconfig: Path
    user: str = DEPLOYER
    started: list[Background] = field(default_factory=list)

    @classmethod
    def in_folder(
        cls,
        tmp: Path,
        sim: Sim,
        *,
        admin: dict[str, Any] | None = None,
        health: dict[str, Any] | None = None,
        **isp: Any,
    ) -> Rollbot:
        """The usual layout: `rollbot.yaml` from `write_config` (`isp`, `admin` and
        `health` overriding their keys) and the journal `rollbot.db`, both in `tmp`,
        against `sim`."""
        config = write_config(tmp / "rollbot.yaml", admin=admin, health=health, **isp)
        return cls(tmp=tmp, config=config, db=tmp / "rollbot.db", kubeconfig=sim.kubeconfig)

    def env(self) -> dict[str, str]:
        # Nothing of the shell's rollbot, cluster, Slack or registry settings leaks in.
        own = ("ROLLBOT_", "KUBE", "SLACK_", "REGISTRY_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
        env.update(
            ROLLBOT_CONFIG=str(self.config),
            ROLLBOT_DB=str(self.db),
            KUBECONFIG=str(self.kubeconfig),
            ROLLBOT_USER=self.user,
            PYTHONUNBUFFERED="1",
        )
        return env

    def run(self, *args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ROLLBOT, *args],
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run_here(
        self, monkeypatch: pytest.MonkeyPatch, verb: str, *args: str
    ) -> tuple[int, str, str]:
        """A verb run inside the test process, with the environment a subprocess gets:
        for refusals that never reach the cluster, where a process adds only start-up."""
        for key, value in self.env().items():
            if key.startswith(("ROLLBOT_", "KUBE")):
                monkeypatch.setenv(key, value)
        out, err = io.StringIO(), io.StringIO()
        code = terminal.run(verb, list(args), out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    def spawn(self, *args: str) -> Background:
        n = len(self.started)
        out_path, err_path = self.tmp / f"rollbot-{n}.out", self.tmp / f"rollbot-{n}.err"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            process = subprocess.Popen(
                [*ROLLBOT, *args],
                cwd=REPO,
                env=self.env(),
                stdout=out,
                stderr=err,
            )
        job = Background(process=process, out_path=out_path, err_path=err_path)
        self.started.append(job)
        return job

    def stop_all(self) -> None:
        for job in self.started:
            if job.process.poll() is None:
                job.kill()

    # -- the journal, read from outside ---------------------------------------------------

    def rollout(self, rollout_id: int) -> Rollout | None:
        if not self.db.exists():
            return None
        with SqliteStore(self.db) as store:
            return store.get(rollout_id)

    def wait_rollout(
        self,
        rollout_id: int,
        check: Callable[[Rollout], bool],
        *,
        what: str,
        timeout: float = 30.0,
    ) -> Rollout:
        # One connection for the whole wait: opening the journal takes a write lock (for
        # migrations), which would compete with the process being watched on every poll.
        wait_for(self.db.exists, timeout=timeout, what=f"the journal {self.db}")
        with SqliteStore(self.db) as store:

            def probe() -> Rollout | None:
                r = store.get(rollout_id)
                return r if r is not None and check(r) else None

            return wait_for(probe, timeout=timeout, what=f"#{rollout_id} {what}")


def rollout_id_from(job: Background, *, timeout: float = 20.0) -> int:
    """The ID `rollbot deploy` prints first."""

    def probe() -> int | None:
        for line in job.output().splitlines():
            for word in line.replace(":", " ").split():
                if word.startswith("#") and word[1:].isdigit():
                    return int(word[1:])
        if job.process.poll() is not None:
            raise AssertionError(
                f"rollbot exited {job.process.returncode} before printing an ID\n"
                f"--- out\n{job.output()}\n--- err\n{job.errors()}"
            )
        return None

    return wait_for(probe, timeout=timeout, what="the rollout ID")


def assert_no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text


def planned_order(rollout: Rollout) -> list[list[str]]:
    """Namespaces per batch index, pilots (batch 0) first, in the journal's order."""
    batches: dict[int, list[str]] = {}
    for t in rollout.targets:
        batches.setdefault(t.batch, []).append(t.namespace)
    return [batches[i] for i in sorted(batches)]


def started_in_batch_order(rollout: Rollout) -> bool:
    """Every tenant of batch N started updating after every tenant of batch N-1 did."""
    previous_latest = None
    for index in sorted({t.batch for t in rollout.targets}):
        starts = [t.started_at for t in rollout.batch(index)]
        if any(s is None for s in starts):
            return False
        stamps = [s for s in starts if s is not None]
        if previous_latest is not None and min(stamps) < previous_latest:
            return False
        previous_latest = max(stamps)
    return True


def words(text: str) -> Sequence[str]:
    return text.replace(",", " ").split()
