"""`rollbot plan` and the refusals of every verb: readable, exit 2 for usage, no tracebacks.

Given a simulated cluster, `rollbot plan` shows pilots, batches and an estimate and writes
nothing to the cluster or the journal; bad words get the problem and the usage; and a
wrong configuration, a missing rollout or an unreachable cluster each get one clear line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store import SqliteStore
from tests.e2e.cli_support import Rollbot, Sim, assert_no_traceback, running_sim

TENANTS = 12


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    with running_sim(tmp_path_factory.mktemp("sim"), tenants=TENANTS) as handle:
        yield handle


@pytest.fixture
def rollbot(tmp_path: Path, sim: Sim) -> Rollbot:
    return Rollbot.in_folder(tmp_path, sim)


def test_plan_prints_pilots_batches_and_an_estimate_and_changes_nothing(
    rollbot: Rollbot, sim: Sim
) -> None:
    sim.reset_counters()
    result = rollbot.run("plan", "isp", "v1.3.0", "batch=4", "pilot=2", "wait=30s")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    tenants = sorted(sim.tenant_images())
    assert f"Pilots (2): {tenants[0]}, {tenants[1]}" in out
    assert "Batch 1 (4)" in out and "Batch 3 (2)" in out and "Batch 4" not in out
    assert "Approval gate" in out
    assert "about " in out, "an estimate"
    assert "nothing will change" in out.lower()
    assert sim.writes() == 0
    assert sim.counters()["verbs"].get("list", 0) >= 1, "the plan read the real fleet"
    assert not rollbot.db.exists(), "a plan neither writes a journal nor creates one"
    assert_no_traceback(result.stdout, result.stderr)


def test_deploy_dry_run_is_the_plan(
    rollbot: Rollbot, sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In-process: the same code path as `rollbot deploy`, without a second interpreter.
    sim.reset_counters()
    three = ",".join(sorted(sim.tenant_images())[:3])
    code, out, err = rollbot.run_here(
        monkeypatch, "deploy", "isp", "v1.3.0", f"tenants={three}", "pilot=1", "dry-run"
    )
    assert code == 0, err
    assert "Pilots (1)" in out and "Batch 1 (2)" in out
    assert sim.writes() == 0
    code, out, err = rollbot.run_here(monkeypatch, "plan", "admin", "v1.3.0")
    assert code == 0, err
    assert "Switch Service platform-admin-app to v1.3.0" in out
    assert sim.writes() == 0


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["plan", "nosuch", "v1.3.0"], "Unknown app"),
        (["plan", "isp", "1.3"], "1.3"),
        (["deploy", "isp", "v1.3.0", "batch=0"], "batch"),
    ],
)
def test_bad_input_exits_2_with_the_problem_and_the_usage(
    rollbot: Rollbot, sim: Sim, args: list[str], problem: str
) -> None:
    sim.reset_counters()
    result = rollbot.run(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert problem in result.stderr
    assert f"Usage: rollbot {args[0]}" in result.stderr
    assert sim.writes() == 0
    assert_no_traceback(result.stdout, result.stderr)


@pytest.mark.parametrize("word", ["dry-run=true", "dry-run=yes", "dry-run=false"])
def test_a_dry_run_given_a_value_is_refused_and_changes_nothing(
    tmp_path: Path, sim: Sim, word: str
) -> None:
    # Given a fleet on its old version, a gate that --auto-approve may pass, and a person
    # who typed a value after dry-run
    rollbot = Rollbot.in_folder(tmp_path, sim, terminal_auto_approve=True)
    sim.reset_counters()
    before = sim.tenant_images()
    # When they run it as a real `rollbot deploy` (with a gate that would not stop it)
    result = rollbot.run("deploy", "isp", "v1.3.1", word, "pilot=0", "--auto-approve")
    # Then the word is refused with the usage, and not one tenant was touched
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "takes no value" in result.stderr
    assert "Usage: rollbot deploy" in result.stderr
    assert sim.writes() == 0
    assert sim.tenant_images() == before
    assert_no_traceback(result.stdout, result.stderr)


# The same refusals in-process: the words never reach the cluster, and a process per case
# would only add start-up time.
REFUSED_WORDS = [
    (["deploy", "isp", "latest"], "latest"),
    (["deploy", "isp", "v1.3.0", "colour=blue"], "colour"),
    (["deploy", "isp", "v1.3.0", "--frob"], "--frob"),
    (["deploy", "isp"], "needs a version"),
    (["deploy"], "app"),
    (["plan", "isp", "v1.3.0", "tenants=Not_A_Namespace"], "Not_A_Namespace"),
    (["approve", "7"], "--as"),
    (["approve", "seven", "--as", "U0BOB"], "seven"),
    (["reject", "7", "--as"], "--as needs a value"),
    (["pause"], "rollout ID"),
    (["resume", "--retry"], "--retry needs a rollout ID"),
    (["resume", "7", "--retry", "--skip"], "one of"),
    (["resume", "7", "--retry=yes"], "--retry takes no value"),
    (["deploy", "isp", "v1.3.0", "--auto-approve=false"], "--auto-approve takes no value"),
    (["rollback"], "rollback"),
    (["rollback", "nosuch"], "nosuch"),
    (["history", "nosuch"], "nosuch"),
    (["status", "1", "2"], "2"),
]


@pytest.mark.parametrize(("args", "problem"), REFUSED_WORDS)
def test_refused_words_in_process(
    rollbot: Rollbot, monkeypatch: pytest.MonkeyPatch, args: list[str], problem: str
) -> None:
    code, out, err = rollbot.run_here(monkeypatch, *args)
    assert code == 2, (out, err)
    assert problem in err
    assert f"Usage: rollbot {args[0]}" in err
    assert out == ""


def test_unknown_rollout_is_named(rollbot: Rollbot, monkeypatch: pytest.MonkeyPatch) -> None:
    SqliteStore(rollbot.db).close()  # a journal, without that rollout
    result = rollbot.run("status", "42")
    assert result.returncode == 1
    assert "no rollout #42" in result.stderr
    assert_no_traceback(result.stdout, result.stderr)
    for args in (["approve", "42", "--as", "U0BOB"], ["pause", "42"], ["cancel", "#42"],
                 ["rollback", "42"], ["resume", "42"]):
        code, out, err = rollbot.run_here(monkeypatch, *args)
        assert code == 1, (args, out, err)
        assert "no rollout #42" in err, (args, err)


def test_nothing_to_resume_or_report_on_an_empty_journal(
    rollbot: Rollbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    SqliteStore(rollbot.db).close()
    code, out, _ = rollbot.run_here(monkeypatch, "resume")
    assert code == 0 and "Nothing to resume" in out
    code, out, _ = rollbot.run_here(monkeypatch, "status")
    assert code == 0 and "No active rollouts" in out


def test_wrong_config_names_the_key(rollbot: Rollbot) -> None:
    rollbot.config.write_text(rollbot.config.read_text().replace('"batch": 5', '"batch": "zero"'))
    result = rollbot.run("plan", "isp", "v1.3.0")
    assert result.returncode == 2
    assert "apps.isp.batch" in result.stderr
    assert_no_traceback(result.stdout, result.stderr)


def test_missing_config_file_is_named(rollbot: Rollbot, tmp_path: Path) -> None:
    rollbot.config = tmp_path / "absent.yaml"
    result = rollbot.run("status")
    assert result.returncode == 2
    assert "absent.yaml" in result.stderr
    assert_no_traceback(result.stdout, result.stderr)


def test_unreachable_cluster_is_one_clear_line(
    rollbot: Rollbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = rollbot.kubeconfig.read_text()
    server = config.split("server: ", 1)[1].split("\n", 1)[0]
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(config.replace(server, "http://127.0.0.1:9"))
    rollbot.kubeconfig = dead
    code, out, err = rollbot.run_here(monkeypatch, "plan", "isp", "v1.3.0")
    assert code == 1
    assert "kubernetes cluster" in err.lower()
    assert len(err.strip().splitlines()) <= 3
    assert out == ""


def test_help_shows_the_usage(rollbot: Rollbot, monkeypatch: pytest.MonkeyPatch) -> None:
    for verb in ("plan", "deploy", "approve", "resume", "rollback", "status", "history"):
        code, out, err = rollbot.run_here(monkeypatch, verb, "--help")
        assert (code, err) == (0, "")
        assert out.startswith(f"Usage: rollbot {verb}")
