"""rollout.policy: every permission rule, allowed and refused, with the words people read."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.errors import PermissionDenied
from rollout.model import (
    Approval,
    AppSpec,
    BlueGreen,
    OsAccount,
    Phase,
    Rollout,
    Settings,
    Strategy,
    Target,
    TargetStatus,
)
from rollout.policy import (
    Decision,
    approvals_complete,
    channel_allowed,
    enforce,
    may_approve,
    may_auto_approve,
    may_control,
    may_deploy,
    may_release,
    may_rollback,
    may_skip_checks,
)
from tests.builders import T0, make_rollout

NOBODY: frozenset[str] = frozenset()
RELEASE = frozenset({"S0RELEASE"})
LEADS = frozenset({"S0LEADS"})

APP = AppSpec(
    name="isp",
    strategy=Strategy.ROLLING,
    image="repo/isp",
    deployment="isp-ops-app",
    container="frontend",
    settings=Settings(),
    deployers=("U0ALICE", "S0RELEASE"),
    approvers=("S0LEADS",),
)
OPEN_APP = replace(APP, deployers=(), approvers=())


def rollout(phase: Phase = Phase.AWAITING_APPROVAL, **fields: object) -> Rollout:
    standard = {
        "id": 42,
        "phase": phase,
        "targets": (
            Target("a", 0, TargetStatus.UPDATED),
            Target("b", 1, TargetStatus.PENDING),
        ),
    }
    return make_rollout(**{**standard, **fields})


def approval(user: str, *, gate: int = 1, decision: str = "approve") -> Approval:
    return Approval(user=user, decision=decision, at=T0, gate=gate)


# --- deploy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "user", "groups", "allowed", "reason"),
    [
        (APP, "U0ALICE", NOBODY, True, "you are a deployer of isp"),
        (APP, "U0BOB", RELEASE, True, "you are a deployer of isp"),
        (
            APP,
            "U0BOB",
            LEADS,
            False,
            "you are not a deployer of isp (deployers: @U0ALICE, @S0RELEASE)",
        ),
        (OPEN_APP, "U0ANYONE", NOBODY, True, "isp lists no deployers, so anyone may deploy it"),
    ],
)
def test_may_deploy(
    app: AppSpec, user: str, groups: frozenset[str], allowed: bool, reason: str
) -> None:
    assert may_deploy(app, user, groups) == Decision(allowed, reason)


def test_long_lists_are_shortened_in_refusals() -> None:
    app = replace(APP, deployers=tuple(f"U{i}" for i in range(8)))
    reason = may_deploy(app, "U0BOB", NOBODY).reason
    assert reason.endswith("(deployers: @U0, @U1, @U2, @U3, @U4 and 3 more)")


# --- approve ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "user", "groups", "allowed", "reason"),
    [
        (rollout(), "U0CAROL", LEADS, True, "you may approve #42"),
        (
            rollout(),
            "U0BOB",
            RELEASE,
            False,
            "you are not an approver of isp (approvers: @S0LEADS)",
        ),
        (
            rollout(),
            "U0ALICE",
            LEADS,
            False,
            "four-eyes: the requester of #42 cannot approve it",
        ),
        (
            rollout(settings=Settings(four_eyes=False)),
            "U0ALICE",
            LEADS,
            True,
            "you may approve #42",
        ),
        (
            rollout(approvals=(approval("U0CAROL"),)),
            "U0CAROL",
            LEADS,
            False,
            "you already approved #42",
        ),
        (
            rollout(Phase.BATCH),
            "U0CAROL",
            LEADS,
            False,
            "#42 is not waiting for approval (it is batch)",
        ),
        (
            rollout(Phase.COMPLETED),
            "U0CAROL",
            LEADS,
            False,
            "#42 is finished (completed); there is nothing to approve",
        ),
        (
            rollout(Phase.ROLLED_BACK),
            "U0CAROL",
            LEADS,
            False,
            "#42 is finished (rolled back); there is nothing to approve",
        ),
    ],
)
def test_may_approve(
    case: Rollout, user: str, groups: frozenset[str], allowed: bool, reason: str
) -> None:
    assert may_approve(case, APP, user, groups) == Decision(allowed, reason)


def test_empty_approvers_lets_anyone_but_the_requester_approve() -> None:
    assert may_approve(rollout(), OPEN_APP, "U0ANYONE", NOBODY).allowed
    assert not may_approve(rollout(), OPEN_APP, "U0ALICE", NOBODY).allowed


# --- terminal identity: the person is claimed, the OS account is not -----------------------

OPS = OsAccount("ops", "build-7")  # started the rollout from a terminal
OPS_ELSEWHERE = OsAccount("ops", "build-8")
BOB_SHELL = OsAccount("bob", "build-7")
STARTED_AT_A_TERMINAL = rollout(requested_from=OPS)
OWN_ACCOUNT = (
    "four-eyes: OS user ops started #42 (from ops@build-7), so an approval typed as ops "
    "is the requester's own, whatever --as says"
)


@pytest.mark.parametrize(
    ("case", "account", "allowed", "reason"),
    [
        # Given a rollout started by OS user ops, claiming to be U0ALICE
        (STARTED_AT_A_TERMINAL, OPS, False, OWN_ACCOUNT),
        (STARTED_AT_A_TERMINAL, OPS_ELSEWHERE, False, OWN_ACCOUNT),
        (STARTED_AT_A_TERMINAL, BOB_SHELL, True, "you may approve #42"),
        (STARTED_AT_A_TERMINAL, None, True, "you may approve #42"),  # a Slack click
        (rollout(), OPS, True, "you may approve #42"),  # started in Slack
        (
            rollout(requested_from=OPS, settings=Settings(four_eyes=False)),
            OPS,
            True,
            "you may approve #42",
        ),
    ],
)
def test_four_eyes_also_refuses_the_os_user_who_started_the_rollout(
    case: Rollout, account: OsAccount | None, allowed: bool, reason: str
) -> None:
    # When U0CAROL, a listed approver, approves from `account` (None: from Slack)
    decision = may_approve(case, APP, "U0CAROL", LEADS, os_account=account)

    # Then the claimed name does not get the requester's own OS user past four-eyes
    assert decision == Decision(allowed, reason)


def test_one_terminal_account_is_one_approver_whatever_name_it_claims() -> None:
    # Given U0CAROL approved from OS user bob's terminal
    approved = rollout(approvals=(Approval("U0CAROL", "approve", T0, 1, os_account=BOB_SHELL),))

    # When the same OS user approves again, claiming to be someone else
    again = may_approve(approved, APP, "U0DAVE", LEADS, os_account=BOB_SHELL)

    # Then it is refused, and another account or a Slack click still counts
    assert again == Decision.deny(
        "OS user bob already approved #42 (as U0CAROL, from bob@build-7); one account "
        "counts as one approver, whatever --as says"
    )
    assert may_approve(approved, APP, "U0DAVE", LEADS, os_account=OPS).allowed
    assert may_approve(approved, APP, "U0DAVE", LEADS).allowed


GATED = replace(APP, approvers=("U0ALICE", "S0LEADS"))


@pytest.mark.parametrize(
    ("app", "user", "allowed", "reason"),
    [
        (
            GATED,
            "U0ALICE",
            False,
            "four-eyes is on for isp, so the requester cannot approve their own rollout, "
            "and --auto-approve is the requester's own approval",
        ),
        (
            replace(GATED, settings=Settings(four_eyes=False, approvals_required=2)),
            "U0ALICE",
            False,
            "isp needs 2 approvals from different people, and --auto-approve is only the "
            "requester's own",
        ),
        (
            replace(GATED, settings=Settings(four_eyes=False)),
            "U0ALICE",
            True,
            "you may approve your own rollouts of isp",
        ),
        (
            replace(GATED, settings=Settings(four_eyes=False)),
            "U0ERIN",
            False,
            "--auto-approve is your own approval, and you are not an approver of isp "
            "(approvers: @U0ALICE, @S0LEADS)",
        ),
        (
            replace(GATED, terminal_auto_approve=True),
            "U0ALICE",
            True,
            "isp sets terminal_auto_approve",
        ),
        (
            replace(
                GATED,
                terminal_auto_approve=True,
                settings=Settings(approvals_required=2),
            ),
            "U0ALICE",
            True,
            "isp sets terminal_auto_approve",
        ),
        (
            replace(GATED, settings=Settings(approval=False)),
            "U0ALICE",
            True,
            "isp has no approval gate",
        ),
    ],
)
def test_auto_approve_counts_as_the_requesters_own_approval(
    app: AppSpec, user: str, allowed: bool, reason: str
) -> None:
    assert may_auto_approve(app, user, NOBODY) == Decision(allowed, reason)


# --- roll back ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "user", "groups", "allowed", "reason"),
    [
        (rollout(Phase.COMPLETED), "U0ALICE", NOBODY, True, "you may roll back #42"),
        (rollout(Phase.BATCH), "U0BOB", RELEASE, True, "you may roll back #42"),
        (rollout(Phase.BATCH), "U0CAROL", LEADS, True, "you may roll back #42"),
        (None, "U0CAROL", LEADS, True, "you may roll back isp"),
        (
            rollout(Phase.COMPLETED),
            "U0EVE",
            NOBODY,
            False,
            "you may not roll back isp: only its deployers and approvers may "
            "(@U0ALICE, @S0RELEASE, @S0LEADS)",
        ),
        (
            rollout(Phase.ROLLING_BACK),
            "U0ALICE",
            NOBODY,
            False,
            "#42 is already rolling back",
        ),
        (
            rollout(Phase.SCHEDULED, targets=(Target("a", 0),)),
            "U0ALICE",
            NOBODY,
            False,
            "#42 has not changed anything yet; cancel it instead",
        ),
        (
            rollout(Phase.ROLLED_BACK, targets=(Target("a", 0, TargetStatus.ROLLED_BACK),)),
            "U0ALICE",
            NOBODY,
            False,
            "#42 is already rolled back",
        ),
        (
            rollout(Phase.FAILED, targets=(Target("a", 0, TargetStatus.PENDING),)),
            "U0ALICE",
            NOBODY,
            False,
            "#42 changed no tenant; there is nothing to roll back",
        ),
        (  # a partial rollback leaves other tenants on the new version
            rollout(
                Phase.ROLLED_BACK,
                targets=(
                    Target("a", 0, TargetStatus.ROLLED_BACK),
                    Target("b", 1, TargetStatus.UPDATED),
                ),
            ),
            "U0ALICE",
            NOBODY,
            True,
            "you may roll back #42",
        ),
        (
            rollout(
                Phase.COMPLETED,
                strategy=Strategy.BLUE_GREEN,
                targets=(),
                blue_green=BlueGreen(namespace="platform-admin", service="svc", switched=True),
            ),
            "U0ALICE",
            NOBODY,
            True,
            "you may roll back #42",
        ),
    ],
)
def test_may_rollback(
    case: Rollout | None, user: str, groups: frozenset[str], allowed: bool, reason: str
) -> None:
    assert may_rollback(case, APP, user, groups) == Decision(allowed, reason)


def test_anyone_may_roll_back_an_app_without_deployers() -> None:
    assert may_rollback(None, OPEN_APP, "U0ANYONE", NOBODY).allowed


# --- pause, resume, cancel ----------------------------------------------------------------


CONTROL_CASES = [
    (rollout(Phase.BATCH, requested_by="U0EVE"), "U0EVE", NOBODY, True, "you requested #42"),
    (rollout(Phase.BATCH), "U0BOB", RELEASE, True, "you may {verb} #42"),
    (rollout(Phase.PAUSED), "U0CAROL", LEADS, True, "you may {verb} #42"),
    (
        rollout(Phase.BATCH),
        "U0EVE",
        NOBODY,
        False,
        "you may not {verb} #42: only its requester (@U0ALICE) and the deployers and "
        "approvers of isp may (@U0ALICE, @S0RELEASE, @S0LEADS)",
    ),
    (
        rollout(Phase.CANCELLED),
        "U0ALICE",
        NOBODY,
        False,
        "#42 is finished (cancelled); there is nothing to {verb}",
    ),
]


@pytest.mark.parametrize("verb", ["pause", "resume", "cancel"])
@pytest.mark.parametrize("case", CONTROL_CASES)
def test_may_control(verb: str, case: tuple[Rollout, str, frozenset[str], bool, str]) -> None:
    subject, user, groups, allowed, reason = case
    expected = Decision(allowed, reason.format(verb=verb))
    assert may_control(subject, APP, user, groups, verb) == expected


def test_unknown_control_verb_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="explode"):
        may_control(rollout(), APP, "U0ALICE", NOBODY, "explode")


# --- channels, approvals, enforce ---------------------------------------------------------


@pytest.mark.parametrize(
    ("channels", "channel", "allowed", "reason"),
    [
        ((), "C0ANY", True, "commands are accepted in every channel"),
        (("C0REL",), "C0REL", True, "this is a release channel"),
        (
            ("C0REL", "C0OPS"),
            "C0RANDOM",
            False,
            "rollbot takes commands only in its release channels: #C0REL, #C0OPS",
        ),
        (
            tuple(f"C{i}" for i in range(7)),
            "C0RANDOM",
            False,
            "rollbot takes commands only in its release channels: #C0, #C1, #C2, #C3, #C4"
            " and 2 more",
        ),
    ],
)
def test_channel_allowed(
    channels: tuple[str, ...], channel: str, allowed: bool, reason: str
) -> None:
    assert channel_allowed(channels, channel) == Decision(allowed, reason)


@pytest.mark.parametrize(
    ("approvals", "required", "complete"),
    [
        ((), 1, False),
        ((), 0, True),
        ((approval("U1"),), 1, True),
        ((approval("U1"), approval("U1")), 2, False),  # distinct people
        ((approval("U1"), approval("U2")), 2, True),
        ((approval("U1", gate=0), approval("U2")), 2, False),  # another gate
        ((approval("U1", decision="reject"), approval("U2")), 2, False),
    ],
)
def test_approvals_complete(approvals: tuple[Approval, ...], required: int, complete: bool) -> None:
    assert approvals_complete(rollout(approvals=approvals), 1, required) is complete


def test_enforce_raises_with_the_reason() -> None:
    enforce(Decision.allow("fine"), user="U1", action="deploy")
    with pytest.raises(PermissionDenied) as caught:
        enforce(Decision.deny("you are not a deployer of isp"), user="U1", action="deploy")
    assert (caught.value.user, caught.value.action) == ("U1", "deploy")
    assert caught.value.reason == "you are not a deployer of isp"


# --- properties ---------------------------------------------------------------------------

ids = st.sampled_from(["U0ALICE", "U0BOB", "U0CAROL", "S0RELEASE", "S0LEADS", "S0OTHER"])


@settings(deadline=None, max_examples=200)
@given(
    deployers=st.lists(ids, max_size=3),
    approvers=st.lists(ids, max_size=3),
    user=ids.filter(lambda i: i.startswith("U")),
    groups=st.frozensets(ids.filter(lambda i: i.startswith("S"))),
    phase=st.sampled_from(Phase),
)
def test_permission_properties(
    deployers: list[str], approvers: list[str], user: str, groups: frozenset[str], phase: Phase
) -> None:
    app = replace(APP, deployers=tuple(deployers), approvers=tuple(approvers))
    case = rollout(phase)
    listed_deployer = not deployers or user in deployers or bool(groups & set(deployers))
    assert may_deploy(app, user, groups).allowed is listed_deployer
    control = may_control(case, app, user, groups, "pause")
    if phase.terminal:
        assert not control.allowed
        assert "finished" in control.reason
    approve = may_approve(case, app, user, groups)
    if approve.allowed:
        assert phase is Phase.AWAITING_APPROVAL
        assert user != case.requested_by
    for decision in (control, approve, may_rollback(case, app, user, groups)):
        assert decision.reason


# --- skip-checks on a release ---------------------------------------------------------------

ADMIN = replace(APP, name="admin", approvers=("U0BOB",))


@pytest.mark.parametrize(
    ("user", "groups", "allowed", "words"),
    [
        ("U0CAROL", LEADS, False, "you are not an approver of admin (approvers: @U0BOB)"),
        ("U0BOB", NOBODY, False, "you are not an approver of isp (approvers: @S0LEADS)"),
        ("U0BOB", LEADS, True, "you may approve every app in the release"),
        ("U0ALICE", RELEASE, False, "not an approver of isp, admin"),
    ],
)
def test_skip_checks_is_for_approvers_of_every_app_in_the_release(
    user: str, groups: frozenset[str], allowed: bool, words: str
) -> None:
    """Given isp approved by @S0LEADS and admin by U0BOB, when someone asks to skip the
    checks of a release of both, then only a person approving both may."""
    decision = may_skip_checks([APP, ADMIN], user, groups)
    assert decision.allowed is allowed
    assert words in decision.reason


def test_a_release_with_skip_checks_needs_a_deployer_who_approves_every_app() -> None:
    deployer_only = may_release([APP], "U0ALICE", RELEASE, skip_checks=True)
    assert not deployer_only.allowed
    assert deployer_only.reason.startswith("skip-checks is only for approvers of every app")
    assert may_release([APP], "U0ALICE", RELEASE).allowed
    both = replace(APP, approvers=("U0ALICE",))
    assert may_release([both], "U0ALICE", NOBODY, skip_checks=True).allowed


def test_an_app_without_approvers_lets_anyone_skip_its_checks_as_anyone_may_approve_it() -> None:
    open_app = replace(APP, approvers=())
    assert may_skip_checks([open_app], "U0CAROL", NOBODY).allowed
