"""The build adapters without Docker: the build commands as process groups, and the
monorepo read at a git ref.

Given a real shell, real git and real pnpm, when a step runs, then its output is in its log,
a failure says why, and a stop ends the whole process group within 5 seconds.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from bot.build.checks import ChecksRun, package_name, run_checks
from bot.build.process import run_command
from bot.build.stop import Stop
from bot.build.workspace import (
    Source,
    make_work_tree,
    package_version_problems,
    resolve,
    workspace_problems,
)
from rollout.release.checks import GUIDE_CHECKS, expand
from sim.monorepo import make_monorepo


def test_a_command_writes_its_output_to_the_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "install.log"
    outcome = run_command("echo installing; echo oops >&2", cwd=tmp_path, log_path=log,
                          timeout=30, stop=Stop())
    assert outcome.ok
    assert log.read_text().splitlines() == ["$ echo installing; echo oops >&2", "installing",
                                            "oops"]


def test_a_failing_command_says_its_exit_status(tmp_path: Path) -> None:
    outcome = run_command("exit 3", cwd=tmp_path, log_path=tmp_path / "x.log", timeout=30,
                          stop=Stop())
    assert (outcome.ok, outcome.reason) == (False, "`exit 3` exited with status 3")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes: it only waits for its parent to read its status.
    status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    return status != "Z"


def test_a_stop_kills_the_whole_process_group_within_five_seconds(tmp_path: Path) -> None:
    """Given a build that started a child of its own (as pnpm starts node), when it is
    stopped, then both are gone within 5 s and the step says who stopped it."""
    stop = Stop()
    pid_file = tmp_path / "child.pid"
    command = f"sleep 300 & echo $! > {pid_file}; trap '' TERM; wait"
    result: list[object] = []
    runner = threading.Thread(target=lambda: result.append(run_command(
        command, cwd=tmp_path, log_path=tmp_path / "b.log", timeout=600, stop=stop)))
    runner.start()
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the build never started its child"
        time.sleep(0.05)  # the child's pid file is the only sign it has started
    child = int(pid_file.read_text())
    asked = time.monotonic()
    stop.stop(by="U0BOB")
    runner.join(timeout=5)
    assert not runner.is_alive() and time.monotonic() - asked < 5
    assert not _alive(child)
    assert getattr(result[0], "reason") == "stopped by U0BOB"  # noqa: B009
    assert "rollbot: stopped by U0BOB" in (tmp_path / "b.log").read_text()


def test_a_command_past_its_timeout_is_ended(tmp_path: Path) -> None:
    outcome = run_command("sleep 30", cwd=tmp_path, log_path=tmp_path / "t.log", timeout=0.5,
                          stop=Stop())
    assert (outcome.ok, outcome.reason) == (False, "timed out after 0s")


# --- the monorepo ---------------------------------------------------------------------------


def test_a_missing_or_foreign_repo_is_named(tmp_path: Path) -> None:
    assert "release.repo is not set" in workspace_problems(None)[0]
    assert workspace_problems(str(tmp_path / "nope")) == [
        f"release.repo {tmp_path / 'nope'} does not exist (or is not a folder)"]
    assert "has no pnpm-workspace.yaml" in workspace_problems(str(tmp_path))[0]


@pytest.fixture(scope="module")
def monorepo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_monorepo(tmp_path_factory.mktemp("mono") / "frontend", version="v1.3.1").root


def test_the_version_tag_is_the_default_ref(monorepo: Path) -> None:
    source, problems = resolve(monorepo, ref=None, version="v1.3.1")
    assert problems == [] and source is not None
    assert source.ref == "v1.3.1" and len(source.revision) == 40


@pytest.mark.parametrize(
    ("ref", "version", "problem"),
    [
        (None, "v9.9.9", "has no git tag v9.9.9: tag the release commit (git tag v9.9.9)"),
        ("nope", "v1.3.1", "ref=nope names no tag, branch or commit in"),
    ],
)
def test_a_ref_that_does_not_resolve_is_named(
    monorepo: Path, ref: str | None, version: str, problem: str
) -> None:
    source, problems = resolve(monorepo, ref=ref, version=version)
    assert source is None and problem in problems[0]


def test_a_package_version_that_differs_names_the_file(monorepo: Path) -> None:
    source, _ = resolve(monorepo, ref=None, version="v1.3.1")
    assert source is not None
    path = "apps/isp-ops-app/package.json"
    assert package_version_problems(source, path, version="v1.3.1") == []
    assert package_version_problems(source, path, version="v1.4.0") == [
        f"{path} at v1.3.1 has version '1.3.1', not '1.4.0': set \"version\": \"1.4.0\" in "
        f"{path} and commit it"]


def test_the_work_tree_is_the_commit_and_nothing_else(monorepo: Path, tmp_path: Path) -> None:
    """Given an uncommitted file in the checkout, when the work tree of the tag is made,
    then it holds the committed files only."""
    (monorepo / "scratch.txt").write_text("not committed")
    source, _ = resolve(monorepo, ref=None, version="v1.3.1")
    assert source is not None
    make_work_tree(source, tmp_path / "tree")
    assert (tmp_path / "tree" / "pnpm-lock.yaml").is_file()
    assert not (tmp_path / "tree" / "scratch.txt").exists()
    (monorepo / "scratch.txt").unlink()


def test_a_folder_that_is_no_checkout_is_copied_without_node_modules(tmp_path: Path) -> None:
    repo = make_monorepo(tmp_path / "plain", version="v1.3.1", git=False).root
    (repo / "node_modules" / "x").mkdir(parents=True)
    source, problems = resolve(repo, ref=None, version="v1.3.1")
    assert problems == [] and source == Source(repo)
    make_work_tree(source, tmp_path / "tree")
    assert (tmp_path / "tree" / "apps" / "isp-ops-app" / "Dockerfile").is_file()
    assert not (tmp_path / "tree" / "node_modules").exists()
    _, refused = resolve(repo, ref="main", version="v1.3.1")
    assert refused == [f"ref=main needs a git checkout, and {repo} is not one"]


# --- the checks -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checked_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture monorepo, installed, whose ui lint fails and which has no type-check."""
    root = make_monorepo(tmp_path_factory.mktemp("checks") / "frontend", version="v1.3.1",
                         git=False, failing_check=("ui", "lint"),
                         without_scripts=("type-check",)).root
    installed = run_command("pnpm install --frozen-lockfile", cwd=root, log_path=root.parent /
                            "install.log", timeout=120, stop=Stop(),
                            env={**os.environ, "CI": "true"})
    assert installed.ok, (root.parent / "install.log").read_text()
    return root


def test_checks_run_in_order_until_one_fails_and_skip_scripts_no_package_defines(
    checked_tree: Path, tmp_path: Path
) -> None:
    """Given ui's lint failing and no package with a type-check script, when the guide's
    checks run, then test runs, type-check is skipped and said so, lint fails naming
    itself with the linter's report in the log, and nothing after it runs."""
    packages = [package_name(checked_tree, f"apps/{folder}/package.json")
                for folder in ("platform-admin-app", "isp-ops-app")]
    log = tmp_path / "checks.log"
    outcome = run_checks(expand(GUIDE_CHECKS, packages), tree=checked_tree, log_path=log,
                         timeout=120, stop=Stop())
    shared = 'pnpm --filter "./shared/packages/**"'
    assert (outcome.ok, outcome.reason) == (False, f"`{shared} lint` exited with status 1")
    assert outcome.ran == (f"{shared} test", f"{shared} lint")
    assert outcome.skipped == (f"{shared} type-check",)
    text = log.read_text()
    assert "test passed for @dotmac/ui" in text
    assert f"rollbot: skipped `{shared} type-check`: no package it selects defines a " \
           "'type-check' script" in text
    assert "40 problems (40 errors, 0 warnings) in @dotmac/ui lint" in text
    assert "build" not in text.split(f"$ {shared} lint")[1]


def test_each_apps_checks_run_where_its_package_defines_them(
    checked_tree: Path, tmp_path: Path
) -> None:
    names = [package_name(checked_tree, "apps/isp-ops-app/package.json"),
             package_name(checked_tree, "apps/nowhere/package.json")]
    assert names == ["isp-ops-app", "./apps/nowhere"]
    outcome = run_checks(expand(["pnpm --filter {package} test:e2e"], names),
                         tree=checked_tree, log_path=tmp_path / "c.log", timeout=60,
                         stop=Stop())
    assert outcome.ok
    assert outcome.ran == ("pnpm --filter isp-ops-app test:e2e",)
    assert outcome.skipped == ("pnpm --filter ./apps/nowhere test:e2e",)
    assert "test:e2e passed for isp-ops-app" in (tmp_path / "c.log").read_text()


def test_a_stop_during_a_check_ends_it_and_runs_no_further_check(tmp_path: Path) -> None:
    stop = Stop()
    result: list[ChecksRun] = []
    log = tmp_path / "s.log"
    runner = threading.Thread(target=lambda: result.append(run_checks(
        ("echo started; sleep 300", "echo never"), tree=tmp_path, log_path=log, timeout=600,
        stop=stop)))
    runner.start()
    deadline = time.monotonic() + 10
    while not (log.exists() and "started" in log.read_text()):
        assert time.monotonic() < deadline, "the check never started"
        time.sleep(0.05)  # the log is the only sign the check has started
    asked = time.monotonic()
    stop.stop(by="U0BOB")
    runner.join(timeout=5)
    assert not runner.is_alive() and time.monotonic() - asked < 5
    assert (result[0].ok, result[0].reason, result[0].ran) == (
        False, "stopped by U0BOB", ("echo started; sleep 300",))
    assert "echo never" not in log.read_text()
