"""The terminal's trust model: the person is claimed, the OS account is recorded.

`--as` (or ROLLBOT_USER) names a person nobody verified, so every terminal action is
journalled with the OS account that typed it, and four-eyes holds against that account
too. Every `rollbot` process here runs as the test's own OS account, read the way rollbot
reads it (the password entry of the real uid), so "the same OS user" is the real thing;
a different account is the policy tests' job (tests/unit/test_policy.py).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.store import SqliteStore
from rollout.model import AuditEntry, OsAccount, Phase, TargetStatus
from tests.e2e import slack_fixtures as chat
from tests.e2e.cli_support import (
    APPROVER,
    DEPLOYER,
    ISP_IMAGE,
    REPO,
    ROLLBOT,
    Rollbot,
    Sim,
    assert_no_traceback,
    rollout_id_from,
    running_sim,
)

NEW = "v1.6.0"
HERE = OsAccount(pwd.getpwuid(os.getuid()).pw_name, socket.gethostname())
DEPLOY = ("deploy", "isp", NEW, "batch=4", "pilot=1")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    with running_sim(tmp_path, tenants=5) as running:
        yield running


def audit_rows(db: Path, rollout_id: int | None = None) -> list[AuditEntry]:
    with SqliteStore(db) as store:
        return store.audit_log(rollout_id=rollout_id)


def test_an_approval_typed_by_the_os_user_who_deployed_is_refused_whatever_as_says(
    tmp_path: Path, sim: Sim
) -> None:
    rollbot = Rollbot.in_folder(tmp_path, sim, pilot_monitor="0s")
    try:
        # Given a rollout deployed from this OS account as U0ALICE, waiting at its gate
        job = rollbot.spawn(*DEPLOY)
        rid = rollout_id_from(job)
        gated = rollbot.wait_rollout(rid, lambda r: r.phase is Phase.AWAITING_APPROVAL,
                                     what="at its gate")
        assert gated.requested_by == DEPLOYER and gated.requested_from == HERE

        # When the same OS account approves, claiming to be the approver U0BOB
        approved = rollbot.run("approve", str(rid), "--as", APPROVER)

        # Then four-eyes refuses it, naming the account, and the gate still waits
        assert approved.returncode == 1, approved.stdout + approved.stderr
        assert f"four-eyes: OS user {HERE.user} started #{rid} (from {HERE})" in approved.stderr
        assert "whatever --as says" in approved.stderr
        assert_no_traceback(approved.stdout, approved.stderr)
        waiting = rollbot.rollout(rid)
        assert waiting is not None and waiting.phase is Phase.AWAITING_APPROVAL
        assert waiting.approvals == ()

        # And a rejection, which four-eyes does not stop, rolls the pilot back
        rejected = rollbot.run("reject", str(rid), "--as", APPROVER)
        assert rejected.returncode == 0, rejected.stdout + rejected.stderr
        assert f"Rejection of #{rid} by {APPROVER} (from a terminal: {HERE}) recorded" in (
            rejected.stdout
        )
        assert job.finish() == 1
        final = rollbot.wait_rollout(rid, lambda r: r.phase.terminal, what="finished")
        assert final.phase is Phase.ROLLED_BACK
        assert final.reason.startswith(f"rejected by {APPROVER} (from a terminal: {HERE})")
        assert [(a.user, a.os_account) for a in final.approvals] == [(APPROVER, HERE)]
    finally:
        rollbot.stop_all()


def test_every_terminal_action_is_audited_with_its_os_account(
    tmp_path: Path, sim: Sim
) -> None:
    rollbot = Rollbot.in_folder(tmp_path, sim, pilot_monitor="0s")
    try:
        # Given a deploy at its gate, an approval refused, then a pause and a cancel
        job = rollbot.spawn(*DEPLOY)
        rid = rollout_id_from(job)
        rollbot.wait_rollout(rid, lambda r: r.phase is Phase.AWAITING_APPROVAL,
                             what="at its gate")
        assert rollbot.run("approve", str(rid), "--as", APPROVER).returncode == 1
        assert rollbot.run("pause", str(rid), "--as", APPROVER).returncode == 0
        assert job.finish() == 3
        cancelled = rollbot.run("cancel", str(rid), "--as", APPROVER)
        assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr

        # Then every row of the audit log names the person claimed and this OS account
        rows = audit_rows(rollbot.db, rid)
        assert [(e.user, e.action, e.outcome) for e in rows] == [
            (DEPLOYER, f"deploy isp {NEW}", "ok"),
            (APPROVER, "approve", "refused"),
            (APPROVER, "pause", "ok"),
            (APPROVER, "cancel", "ok"),
        ]
        assert {e.os_account for e in rows} == {HERE}
        final = rollbot.rollout(rid)
        assert final is not None and final.phase is Phase.CANCELLED
        assert final.reason.startswith(f"cancelled by {APPROVER} (from a terminal: {HERE})")
    finally:
        rollbot.stop_all()


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param({}, id="four-eyes"),
        pytest.param({"four_eyes": False, "approvals_required": 2}, id="two-approvals"),
    ],
)
def test_auto_approve_is_refused_up_front_where_the_requesters_approval_would_be(
    tmp_path: Path, sim: Sim, rules: dict[str, Any]
) -> None:
    # Given an app whose gate the requester's own approval cannot pass
    rollbot = Rollbot.in_folder(tmp_path, sim, **rules)

    # When its deployer asks to skip the gate with --auto-approve
    result = rollbot.run(*DEPLOY, "--auto-approve")

    # Then nothing starts, nothing is patched, and the refusal says why and what to do
    assert result.returncode == 1, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert "--auto-approve refused, nothing was started" in said
    why = "four-eyes is on for isp" if not rules else "isp needs 2 approvals"
    assert why in said
    assert "rollbot approve <ID> --as <USER> from another terminal" in said
    assert f"set terminal_auto_approve: true for isp in {rollbot.config}" in said
    assert_no_traceback(result.stdout, result.stderr)
    assert sim.writes() == 0
    assert rollbot.rollout(1) is None
    [row] = audit_rows(rollbot.db)
    assert (row.user, row.action, row.outcome) == (DEPLOYER, "deploy isp --auto-approve",
                                                   "refused")
    assert row.os_account == HERE


def test_auto_approve_passes_the_gate_where_the_app_sets_terminal_auto_approve(
    tmp_path: Path, sim: Sim
) -> None:
    # Given an app with four-eyes and two approvals, that trusts the terminal (CI)
    rollbot = Rollbot.in_folder(tmp_path, sim, approvals_required=2,
                                terminal_auto_approve=True)

    # When its deployer deploys with --auto-approve
    result = rollbot.run(*DEPLOY, "--auto-approve")

    # Then it completes without stopping at the gate
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(sim.tenant_images().values()) == {f"{ISP_IMAGE}:{NEW}"}
    final = rollbot.rollout(1)
    assert final is not None and final.phase is Phase.COMPLETED
    assert {t.status for t in final.targets} == {TargetStatus.UPDATED}
    assert final.requested_from == HERE


async def test_the_slack_thread_names_the_os_account_of_a_terminal_approval(
    tmp_path: Path,
) -> None:
    async with chat.running_bot(tmp_path, tenants=4) as bot:
        # Given a rollout asked for in Slack by Alice, waiting at its gate
        rid = await bot.deploy("isp v1.3.1 batch=4 pilot=1")
        gated = await bot.wait(rid)
        assert gated.phase is Phase.AWAITING_APPROVAL and gated.requested_from is None
        await bot.approval_message(rid)

        # When Bob approves it from a terminal on the same journal
        config = tmp_path / "rollbot.yaml"
        config.write_text(bot.config)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLBOT_", "SLACK_"))}
        env |= {"ROLLBOT_CONFIG": str(config), "ROLLBOT_DB": str(bot.db)}
        approved = await asyncio.to_thread(
            subprocess.run, [*ROLLBOT, "approve", str(rid), "--as", chat.BOB], cwd=REPO,
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )
        assert approved.returncode == 0, approved.stdout + approved.stderr

        # Then the edited approval request says who approved and from which OS account,
        # once (no reply repeats it); the rollout goes on
        edited = await bot.decided((await bot.approval_message(rid)).ts, "Approved")
        assert f"Approved by <@{chat.BOB}> (from a terminal: {HERE}) at" in edited.text
        line = f"<@{chat.BOB}> approved #{rid}"
        assert not [m for m in bot.slack.messages(chat.C, include_replies=True) if line in m.text]
        final = await bot.reach(rid, Phase.COMPLETED)
        assert final.phase is Phase.COMPLETED
        assert [(a.user, a.os_account) for a in final.approvals] == [(chat.BOB, HERE)]
        approvals = [e for e in audit_rows(bot.db, rid) if e.action == "approve"]
        assert [(e.user, e.outcome, e.os_account) for e in approvals] == [
            (chat.BOB, "ok", HERE)
        ]
