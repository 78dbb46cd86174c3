"""A first run on a fresh machine: where the journal is, that reading never makes one,
and what is said when no kubeconfig is there.

A reading verb run in the wrong folder used to leave an empty journal behind and then
say the rollout did not exist. The journal is `ROLLBOT_DB`, else `./rollbot.db` (the
product contract's default); verbs that only read or ask never create it, and say where
they looked when it is not there.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cli_support import CLI_TIMEOUT, REPO, ROLLBOT

READING = [("status", "2"), ("status",), ("history",), ("approve", "2", "--as", "U0BOB"),
           ("pause", "2"), ("cancel", "2"), ("rollback", "2"), ("resume", "2")]


def rollbot_in(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`rollbot` run from `folder` with none of the shell's rollbot or cluster settings."""
    own = ("ROLLBOT_", "KUBE", "SLACK_", "REGISTRY_", "XDG_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    return subprocess.run(
        [*ROLLBOT, *args], cwd=folder, env={**clean, "PYTHONPATH": str(REPO), **env},
        capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False,
    )


@pytest.mark.parametrize("words", READING, ids=" ".join)
def test_a_reading_verb_with_no_journal_names_where_it_looked_and_creates_nothing(
    tmp_path: Path, words: tuple[str, ...]
) -> None:
    # Given a folder with no journal in it
    folder, state = tmp_path / "elsewhere", tmp_path / "state"
    folder.mkdir()

    # When a verb that reads or asks runs there
    done = rollbot_in(folder, *words, XDG_STATE_HOME=str(state))

    # Then it is refused naming the default journal and ROLLBOT_DB, and no journal appears
    expected = folder / "rollbot.db"
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"no journal at {expected}" in done.stderr
    assert "ROLLBOT_DB" in done.stderr
    assert "Traceback" not in done.stderr
    assert not expected.exists()
    assert list(folder.iterdir()) == []


def test_a_journal_named_by_rollbot_db_that_is_missing_is_named_and_not_created(
    tmp_path: Path,
) -> None:
    # Given ROLLBOT_DB naming a file that does not exist
    missing = tmp_path / "team" / "journal.db"
    (tmp_path / "team").mkdir()

    # When `rollbot status 2` runs
    done = rollbot_in(tmp_path, "status", "2", ROLLBOT_DB=str(missing))

    # Then it names that file as the one ROLLBOT_DB chose, and leaves it absent
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"no journal at {missing} (the file ROLLBOT_DB names)" in done.stderr
    assert not missing.exists()


def test_with_no_kubeconfig_the_error_names_the_path_and_the_fix(tmp_path: Path) -> None:
    # Given a home with no ~/.kube/config and no KUBECONFIG
    home = tmp_path / "home"
    home.mkdir()

    # When a verb that needs the cluster runs
    done = rollbot_in(tmp_path, "plan", "isp", "v1.3.0", HOME=str(home),
                      XDG_STATE_HOME=str(tmp_path / "state"))

    # Then it names the file it looked for and how to give one
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{home / '.kube' / 'config'} does not exist" in done.stderr
    assert "Set KUBECONFIG" in done.stderr
    assert "Traceback" not in done.stderr
