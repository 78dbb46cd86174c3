"""`rollbot release` as a real subprocess, as an operator runs it: against the tests' own
Docker engine and registry, real pnpm, the fixture monorepo and the simulated cluster.

Given the monorepo at v1.3.1, when `rollbot release v1.3.1 --auto-approve` runs, then it
prints the release ID, the checklist as it goes and the summary, and exits 0 only when the
release completed; a failed build prints its last lines and where its whole log is; and
`status`, `list` and `cancel` work on the journal from another terminal.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.monorepo import make_monorepo
from tests.e2e.cli_support import REPO, Background, assert_no_traceback, wait_for
from tests.e2e.release_support import LIMIT, TENANTS, VERSION, World, config_text, release_world
from tests.fixtures.engine import Engine, Registry

ROLLBOT = (sys.executable, "-m", "bot.cli")


class Terminal:
    """`rollbot` verbs run as subprocesses against the world's journal and cluster."""

    def __init__(self, world: World, tmp: Path, *, auto_approve_isp: bool = True) -> None:
        data = yaml.safe_load(config_text(world.repo.root, world.registry, world.engine,
                                          world.prefix, isp_approval=True))
        data["apps"]["isp"]["terminal_auto_approve"] = auto_approve_isp
        self.config = tmp / "rollbot-cli.yaml"
        self.config.write_text(yaml.safe_dump(data))
        self.world, self.tmp, self.jobs = world, tmp, 0

    def env(self, user: str) -> dict[str, str]:
        return {**self.world.environ, "ROLLBOT_CONFIG": str(self.config),
                "ROLLBOT_DB": str(self.world.db), "KUBECONFIG": str(self.world.sim.kubeconfig),
                "ROLLBOT_USER": user, "PYTHONUNBUFFERED": "1"}

    def run(self, *args: str, user: str = "U0ALICE") -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*ROLLBOT, "release", *args], cwd=REPO, env=self.env(user),
                              capture_output=True, text=True, timeout=LIMIT, check=False)
        assert_no_traceback(done.stdout, done.stderr)
        return done

    def spawn(self, *args: str, user: str = "U0ALICE") -> Background:
        self.jobs += 1
        out, err = self.tmp / f"release-{self.jobs}.out", self.tmp / f"release-{self.jobs}.err"
        with out.open("wb") as o, err.open("wb") as e:
            process = subprocess.Popen([*ROLLBOT, "release", *args], cwd=REPO,
                                       env=self.env(user), stdout=o, stderr=e)
        return Background(process=process, out_path=out, err_path=err)


@pytest.fixture
def repo_steps() -> dict[str, str]:
    return {}


@pytest.fixture
def repo_checks() -> dict[str, Any]:
    return {}


@pytest.fixture
def world(tmp_path: Path, docker_engine: Engine, registry: Registry,
          repo_steps: dict[str, str], repo_checks: dict[str, Any]) -> Iterator[World]:
    repo = make_monorepo(tmp_path / "frontend", version=VERSION, dockerfile_steps=repo_steps,
                         **repo_checks)
    with release_world(tmp_path, repo, engine=docker_engine, registry=registry) as w:
        yield w


def test_a_release_from_the_terminal_prints_its_checklist_and_exits_0(
    world: World, tmp_path: Path
) -> None:
    # Given the monorepo at v1.3.1 and isp's gate open to the terminal's own approval
    terminal = Terminal(world, tmp_path)
    # When alice releases it from a terminal
    done = terminal.run(VERSION, "--auto-approve")
    # Then it completed: both images are in the registry, admin switched, every tenant on it
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (f"Release R1: {VERSION} of admin, isp by U0ALICE (approval gates off: "
                        "--auto-approve)")
    said = "\n".join(line[10:] for line in lines[1:])  # past the time stamps
    for expected in ("⬜ Build the isp image", "✅ Build the admin image done in",
                     "✅ Verify isp in the registry done in", "🏗️ Release R1 v1.3.1 built",
                     "🚀 Deploy admin runs as rollout #1", "🚀 Deploy isp runs as rollout #2",
                     "✅ Release R1 v1.3.1 completed in"):
        assert expected in said, done.stdout
    assert said.index("Build the shared packages done") < said.index("Build the isp image done")
    tags = world.tags()
    assert all(digest and digest.startswith("sha256:") for digest in tags.values())
    assert f"In the registry: admin {tags['admin'][:19]}" in said  # type: ignore[index]
    assert world.admin_live_version() == VERSION
    assert set(world.tenant_images().values()) == {f"{world.image('isp')}:{VERSION}"}
    assert len(world.tenant_images()) == TENANTS
    # And status and list read it back from another terminal
    status = terminal.run("status", "R1", user="U0BOB")
    assert status.returncode == 0
    assert status.stdout.startswith("✅ Release R1 v1.3.1 by @U0ALICE")
    listed = terminal.run("list", user="U0BOB")
    assert listed.stdout.splitlines()[1].startswith("✅ R1 v1.3.1 · Completed in")


@pytest.mark.parametrize("repo_steps", [{"isp": "echo broken >&2; exit 7"}])
def test_a_failed_build_prints_its_last_lines_and_where_its_log_is(
    world: World, tmp_path: Path
) -> None:
    done = Terminal(world, tmp_path).run(VERSION, "--auto-approve")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "❌ Build the isp image failed after" in done.stdout
    assert "Last " in done.stdout and "lines of Build the isp image:" in done.stdout
    assert "ERROR: The command '/bin/sh -c echo broken >&2; exit 7'" in done.stdout
    log = world.db.parent / "rollbot.db.releases" / "R1" / "logs" / "image-isp.log"
    assert f"Whole log: {log}" in done.stdout
    assert "Nothing was pushed." in done.stdout
    assert world.tags() == {"admin": None, "isp": None}


@pytest.mark.parametrize("repo_steps", [{"isp": "sleep 60"}])
def test_a_cancel_from_another_terminal_stops_the_release_within_seconds(
    world: World, tmp_path: Path
) -> None:
    # Given alice's release building isp's image in a long step
    terminal = Terminal(world, tmp_path)
    job = terminal.spawn(VERSION)
    wait_for(lambda: "🔄 Build the isp image…" in job.output(), timeout=LIMIT,
             what="the image build")
    # When mallory, then bob, cancel it from other terminals
    refused = terminal.run("cancel", "R1", user="U0MALLORY")
    asked = time.monotonic()
    taken = terminal.run("cancel", "R1", user="U0BOB")
    # Then mallory is refused, bob's stop is taken, and the release ends within 5 s
    assert refused.returncode == 1
    assert "you may not stop R1" in refused.stderr
    assert taken.returncode == 0, taken.stderr
    assert "Stop of R1 requested by @U0BOB" in taken.stdout
    assert job.finish(timeout=30) == 1
    assert time.monotonic() - asked < 5 + 2  # the journal is read every half second
    assert "🚫 Release R1 v1.3.1 was stopped by @U0BOB" in job.output()
    assert world.tags() == {"admin": None, "isp": None}
    again = terminal.run("cancel", "R1", user="U0BOB")
    assert again.returncode == 1
    assert "R1 has already ended (cancelled); there is nothing to stop" in again.stderr


def test_bad_words_get_the_usage_and_start_nothing(world: World, tmp_path: Path) -> None:
    terminal = Terminal(world, tmp_path)
    for words in (["1.3"], [VERSION, "apps=nope"], [VERSION, "ref="], ["cancel"]):
        done = terminal.run(*words)
        assert done.returncode == 2, (words, done.stderr)
        assert "Usage: rollbot release <version>" in done.stderr
        assert "/release" not in done.stderr
    assert world.releases.list_releases() == []


@pytest.mark.parametrize("repo_checks", [{"failing_check": ("ui", "lint")}])
def test_a_failing_check_exits_1_naming_it_with_its_last_lines_and_builds_nothing(
    world: World, tmp_path: Path
) -> None:
    done = Terminal(world, tmp_path).run(VERSION, "--auto-approve")
    assert done.returncode == 1, done.stdout + done.stderr
    check = 'pnpm --filter "./shared/packages/**" lint exited with status 1'  # plain text
    assert "❌ Run the checks failed after" in done.stdout and check in done.stdout
    assert "lines of Run the checks:" in done.stdout
    assert "✖ 40 problems (40 errors, 0 warnings) in @dotmac/ui lint" in done.stdout
    log = world.db.parent / "rollbot.db.releases" / "R1" / "logs" / "checks.log"
    assert f"Whole log: {log}" in done.stdout
    assert "failed at Run the checks after" in done.stdout
    assert "Nothing was pushed." in done.stdout
    assert "Build the admin image done" not in done.stdout
    assert world.tags() == {"admin": None, "isp": None}


def test_skip_checks_from_someone_who_approves_no_app_is_refused_and_starts_nothing(
    world: World, tmp_path: Path
) -> None:
    terminal = Terminal(world, tmp_path)
    done = terminal.run(VERSION, "skip-checks")
    assert done.returncode == 1, done.stdout + done.stderr
    assert ("skip-checks is only for approvers of every app in the release, and you are not "
            "an approver of admin, isp (approvers: @U0BOB)") in done.stderr
    assert world.releases.list_releases() == []
    audit = [(e.user, e.action, e.outcome) for e in world.runtime.store.audit_log()]
    assert ("U0ALICE", f"release {VERSION}", "refused") in audit
