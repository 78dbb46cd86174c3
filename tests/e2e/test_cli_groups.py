"""Slack user groups from a terminal: `--as` a group member counts as it does in Slack.

The app lists a group among its deployers (S0SHIP) and its approvers (S0LEADS). Given the
Slack stand-in knows who is in them and the CLI has SLACK_BOT_TOKEN and SLACK_API_URL, a
member deploys and a member approves from terminals and the rollout completes; a
non-member is refused with the reason. Without a token, or when Slack answers errors or
cannot be reached, the member is refused with that reason instead, never a traceback.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from bot.store import SqliteStore
from rollout.model import Phase
from sim.slack import SlackHandle, start_slack
from sim.slack.faults import FaultKind
from tests.e2e.cli_support import (
    APPROVER,
    DEPLOYER,
    ISP_IMAGE,
    Rollbot,
    Sim,
    assert_no_traceback,
    rollout_id_from,
    running_sim,
)

NEW = "v1.5.0"
LEADS, SHIP = "S0LEADS", "S0SHIP"
CAROL, ERIN, DAVE = "U0CAROL", "U0ERIN", "U0DAVE"  # a lead, a shipper, neither
LOOKUP = "usergroups.users.list"


def unchecked(group: str, why: str) -> str:
    """How Slack and the terminal alike say a group could not be checked."""
    return f"rollbot could not check your membership of user group {group} ({why})"


@dataclass
class SlackRollbot(Rollbot):
    """`rollbot` with the Slack settings given here, never ones inherited from the shell."""

    slack: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.slack}

    def here(self, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
        """A verb in this process (refusals only), with this object's Slack settings."""
        for key in ("SLACK_BOT_TOKEN", "SLACK_API_URL"):
            if key in self.slack:
                monkeypatch.setenv(key, self.slack[key])
            else:
                monkeypatch.delenv(key, raising=False)
        return self.run_here(monkeypatch, args[0], *args[1:])


@pytest.fixture
def slack() -> Iterator[SlackHandle]:
    with start_slack(usergroups={LEADS: [CAROL], SHIP: [ERIN]}) as handle:
        yield handle


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    with running_sim(tmp_path, tenants=4) as running:
        yield running


def _rollbot(tmp_path: Path, sim: Sim, slack: SlackHandle) -> SlackRollbot:
    # Every person here types at the same OS account, which four-eyes would take for the
    # requester's own at the gate (see test_cli_trust.py): it is off, to test groups.
    plain = Rollbot.in_folder(tmp_path, sim, batch=4, pilot=1, pilot_monitor="0s",
                              deployers=[DEPLOYER, SHIP], approvers=[APPROVER, LEADS],
                              four_eyes=False)
    return SlackRollbot(tmp=plain.tmp, config=plain.config, db=plain.db,
                        kubeconfig=plain.kubeconfig,
                        slack={"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_API_URL": slack.api_url})


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_group_members_deploy_and_approve_from_terminals(
    tmp_path: Path, sim: Sim, slack: SlackHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollbot = _rollbot(tmp_path, sim, slack)
    tokenless = replace(rollbot, slack={})
    try:
        # Given no token, a member of S0SHIP is refused, told why groups were not checked
        code, _, err = tokenless.here(monkeypatch, "deploy", "isp", NEW, "--as", ERIN)
        assert code == 1
        assert "not a deployer of isp" in err
        assert unchecked(SHIP, "SLACK_BOT_TOKEN is not set") in err

        # When the token is there, the member deploys and the rollout reaches its gate
        job = rollbot.spawn("deploy", "isp", NEW, "--as", ERIN)
        rid = rollout_id_from(job)
        rollbot.wait_rollout(rid, lambda r: r.phase is Phase.AWAITING_APPROVAL,
                             what="at its gate")
        assert [c.args.get("usergroup") for c in slack.calls(LOOKUP)] == [SHIP]

        # A non-member of S0LEADS is refused with the reason
        code, _, err = rollbot.here(monkeypatch, "approve", str(rid), "--as", DAVE)
        assert code == 1
        assert "not an approver of isp" in err and LEADS in err
        assert "SLACK_BOT_TOKEN" not in err

        # Without a token the member is refused, with the explanation
        code, _, err = tokenless.here(monkeypatch, "approve", str(rid), "--as", CAROL)
        assert code == 1
        assert unchecked(LEADS, "SLACK_BOT_TOKEN is not set") in err
        # Then the member approves from another terminal and the rollout completes
        approved = rollbot.run("approve", str(rid), "--as", CAROL)
        assert approved.returncode == 0, approved.stdout + approved.stderr
        final = rollbot.wait_rollout(rid, lambda r: r.phase.terminal, what="finished")
        assert final.phase is Phase.COMPLETED, job.output() + job.errors()
        assert any(a.user == CAROL and a.decision == "approve" for a in final.approvals)
        assert set(sim.tenant_images().values()) == {f"{ISP_IMAGE}:{NEW}"}
        assert job.finish() == 0
        assert_no_traceback(job.output(), job.errors(), approved.stdout, approved.stderr)

        # ...and a refusal no group could lift says nothing about the token
        code, _, err = tokenless.here(monkeypatch, "approve", str(rid), "--as", ERIN)
        assert code == 1 and "is finished" in err and "SLACK_BOT_TOKEN" not in err
        with SqliteStore(rollbot.db) as store:
            refused = [e.detail for e in store.audit_log(rollout_id=rid)
                       if e.outcome == "refused"]
        assert any("SLACK_BOT_TOKEN is not set" in d for d in refused), refused
    finally:
        rollbot.stop_all()


@pytest.mark.parametrize(
    "case",
    [
        ({"kind": FaultKind.API_ERROR, "error": "missing_scope"}, "Slack answered missing_scope",
         False),
        ({"kind": FaultKind.SERVER_ERROR, "status": 503}, "Slack answered HTTP 503", True),
        (None, "Slack could not be reached", True),
    ],
    ids=["refused", "server-error", "unreachable"],
)
def test_a_member_is_refused_with_the_reason_when_slack_cannot_say(
    tmp_path: Path,
    sim: Sim,
    slack: SlackHandle,
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[dict[str, Any] | None, str, bool],
) -> None:
    fault, said, passing = case
    rollbot = _rollbot(tmp_path, sim, slack)
    if fault is None:
        rollbot.slack["SLACK_API_URL"] = f"http://127.0.0.1:{_closed_port()}/api/"
    else:
        slack.add_fault(LOOKUP, **fault)

    code, out, err = rollbot.here(monkeypatch, "deploy", "isp", NEW, "--as", ERIN)

    assert code == 1, out
    assert "not a deployer of isp" in err
    assert unchecked(SHIP, said)[:-1] in err
    # a passing trouble is worth another try; a missing scope is not
    assert ("try again in a minute" in err) is passing
    assert_no_traceback(out, err)
    assert sim.writes() == 0, "a refused deploy changes nothing"
