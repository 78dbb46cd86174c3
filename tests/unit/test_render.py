"""Rendering: every message fits Slack's limits and says what happened, at any fleet size."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers import render
from rollout.actions import Action
from rollout.model import (
    PILOT_BATCH,
    Approval,
    OsAccount,
    Phase,
    Rollout,
    Settings,
    Strategy,
    TargetStatus,
)
from rollout.plan import Estimate
from tests.builders import make_rollout, planned_targets

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def fleet(n: int, *, batch_size: int = 5, pilots: int = 2) -> Rollout:
    names = [f"tenant-isp-{i:04d}" for i in range(n)]
    plan = dict.fromkeys(names[:pilots], PILOT_BATCH)
    plan |= {ns: i // batch_size + 1 for i, ns in enumerate(names[pilots:])}
    return make_rollout(
        id=42,
        image="registry.example/dotmac/isp-ops-app",
        created_at=NOW,
        settings=Settings(batch_size=batch_size),
        targets=planned_targets(plan),
        batch_count=max(plan.values()),
        phase=Phase.BATCH,
        current_batch=1,
    )


def assert_fits(message: render.Message) -> None:
    assert len(message.blocks) <= render.MAX_BLOCKS
    for block in message.blocks:
        text = block.get("text", {}).get("text", "")
        assert len(text) <= render.MAX_SECTION_CHARS
        for element in block.get("elements", []):
            assert (
                len(element.get("text", "") if isinstance(element.get("text"), str) else "") <= 3000
            )
    assert message.text


def section_texts(message: render.Message) -> str:
    parts: list[str] = []
    for block in message.blocks:
        if block["type"] == "section":
            parts.append(block["text"]["text"])
        elif block["type"] == "context":
            parts.extend(e["text"] for e in block["elements"])
    return "\n".join(parts)


def buttons(message: render.Message) -> list[dict[str, Any]]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


AN_HOUR = Estimate(steps=(), total_seconds=3600, awaits_approval=False)


def plan_of(rollout: Rollout) -> tuple[render.Message, list[list[str]]]:
    """The plan message of `rollout`, and its batches (pilots first) as the plan lists them."""
    pilots = [t.namespace for t in rollout.batch(PILOT_BATCH)]
    batches = [[t.namespace for t in rollout.batch(i)] for i in range(1, rollout.batch_count + 1)]
    message = render.plan_message(rollout, pilots=pilots, batches=batches, estimate=AN_HOUR)
    return message, [pilots, *batches]


@pytest.mark.parametrize("n", [1, 30, 1000])
def test_plan_fits_and_names_every_tenant(n: int) -> None:
    # Given fleets from one tenant to a thousand
    rollout = fleet(n)

    # When the plan is rendered
    message, _ = plan_of(rollout)

    # Then it fits Slack's limits and names every tenant
    assert_fits(message)
    shown = section_texts(message)
    assert [t.namespace for t in rollout.targets if t.namespace not in shown] == []
    assert f"{n} tenants" in shown


def test_a_plan_too_long_for_one_message_counts_what_it_leaves_out() -> None:
    # Given a fleet whose plan cannot fit in one Slack message
    rollout = fleet(9000)

    # When the plan is rendered
    message, lines = plan_of(rollout)

    # Then it still fits, its last line counts the batches left out, and every tenant not
    # named is in one of those batches: none is dropped silently
    assert_fits(message)
    shown = section_texts(message)
    left_out = [batch for batch in lines[1:] if batch[0] not in shown]
    assert left_out, "the plan was expected not to fit"
    assert shown.splitlines()[-1] == f"… and {len(left_out)} more"
    unnamed = {t.namespace for t in rollout.targets if t.namespace not in shown}
    assert unnamed == {ns for batch in left_out for ns in batch}
    assert "9000 tenants" in shown


def test_batch_result_lists_every_tenant_with_failures_first() -> None:
    rollout = fleet(12)
    batch = rollout.batch(1)
    failed = replace(
        batch[3],
        status=TargetStatus.FAILED,
        reason="pod x not ready: CrashLoopBackOff",
        started_at=NOW,
        finished_at=NOW + timedelta(seconds=300),
    )
    done = [
        replace(
            t, status=TargetStatus.UPDATED, started_at=NOW, finished_at=NOW + timedelta(seconds=42)
        )
        for t in batch
        if t.namespace != failed.namespace
    ]
    rollout = rollout.with_targets([failed, *done])
    message = render.batch_result_message(rollout, 1)
    text = section_texts(message)
    assert "4/5 updated, 1 failed" in text
    lines = text.splitlines()
    assert lines[1].startswith("❌ " + failed.namespace) and "CrashLoopBackOff" in lines[1]
    assert all(t.namespace in text for t in batch)
    assert "42s" in text


def test_batch_of_1000_tenants_is_summarised_within_limits() -> None:
    rollout = fleet(1002, batch_size=1000)
    rollout = rollout.with_targets(
        replace(t, status=TargetStatus.UPDATED) for t in rollout.batch(1)
    )
    message = render.batch_result_message(rollout, 1)
    assert_fits(message)
    assert "1000/1000 updated" in section_texts(message)


def test_parent_message_shows_progress_and_the_right_buttons() -> None:
    rollout = fleet(30)
    rollout = rollout.with_targets(
        replace(t, status=TargetStatus.UPDATED) for t in rollout.targets[:12]
    )
    message = render.parent_message(rollout, eta=NOW + timedelta(minutes=30))
    text = message.text
    assert "isp v1.3.0" in text and "#42" in text and "<@U0ALICE>" in text
    assert "Batch 1 of 6" in text and "12/30" in text and "12 updated · 0 failed · 18 left" in text
    assert "ETA 12:30 UTC" in text
    assert [b["action_id"] for b in buttons(message)] == [
        Action.PAUSE.button_id,
        Action.CANCEL.button_id,
        Action.ROLLBACK.button_id,
    ]
    paused = render.parent_message(replace(rollout, phase=Phase.PAUSED, paused_from=Phase.BATCH))
    assert buttons(paused)[0]["action_id"] == Action.RESUME.button_id
    done = render.parent_message(replace(rollout, phase=Phase.COMPLETED))
    assert [b["action_id"] for b in buttons(done)] == [Action.ROLLBACK.button_id]
    gone = render.parent_message(replace(rollout, phase=Phase.ROLLED_BACK))
    assert buttons(gone) == []


def test_a_paused_rollout_with_a_failure_does_not_show_a_full_bar() -> None:
    # Given the last batch settled with one tenant failed, the rollout paused
    rollout = fleet(12)
    settled = [
        t.with_status(TargetStatus.FAILED if i == 0 else TargetStatus.UPDATED, reason="x")
        for i, t in enumerate(rollout.targets)
    ]
    paused = replace(rollout.with_targets(settled), phase=Phase.PAUSED, paused_from=Phase.BATCH)

    # When its parent message is drawn
    text = render.parent_message(paused).text

    # Then the bar counts the tenants on the new version, not every tenant that settled
    assert "11/12" in text and "12/12" not in text


def test_approval_request_names_rules_and_decided_removes_buttons() -> None:
    rollout = replace(
        fleet(30),
        phase=Phase.AWAITING_APPROVAL,
        deadline=NOW + timedelta(hours=4),
        settings=Settings(approvals_required=2, four_eyes=True),
    )
    rollout = replace(
        rollout, approvals=(Approval(user="U0BOB", decision="approve", at=NOW, gate=1),)
    )
    rollout = rollout.with_targets(
        replace(t, status=TargetStatus.UPDATED) for t in rollout.batch(PILOT_BATCH)
    )
    message = render.approval_request(rollout, gate=1, approvers=["S0LEADS"])
    text = section_texts(message)
    assert "Pilots are healthy" in text and "28 tenants" in text
    assert "2 approvals" in text and "four-eyes" in text and "<@U0BOB>" in text
    assert "<!subteam^S0LEADS>" in text
    assert {b["action_id"] for b in buttons(message)} == {
        Action.APPROVE.button_id,
        Action.REJECT.button_id,
    }
    assert render.parse_button_value(buttons(message)[0]["value"]) == (42, 1)
    after = render.decided(message.text, user="U0CAROL", action=Action.APPROVE, at=NOW)
    assert buttons(after) == []
    assert "Approved by <@U0CAROL> at 12:00 UTC" in section_texts(after)


@pytest.mark.parametrize("action", ["approve", "reject", "pause", "rollback", "resume"])
def test_a_terminal_decision_names_the_os_account_beside_the_claimed_person(action: str) -> None:
    # Given a request typed as OS user ops on build-7, claiming to be U0BOB
    typed = OsAccount("ops", "build-7")

    # When the thread says who acted, and the decided message is edited
    line = render.person_event(fleet(3), user="U0BOB", action=action, os_account=typed)
    edited = render.decided("Approval needed", user="U0BOB", action=Action.APPROVE, at=NOW,
                            os_account=typed)

    # Then both name the account; a Slack click's line names none
    assert line.text.startswith("<@U0BOB> ")
    assert line.text.endswith(" #42 (from a terminal: ops@build-7).")
    assert "Approved by <@U0BOB> (from a terminal: ops@build-7) at 12:00 UTC" in edited.text
    clicked = render.person_event(fleet(3), user="U0BOB", action=action)
    assert "terminal" not in clicked.text


def test_failure_choices_offer_the_three_ways_on() -> None:
    rollout = fleet(12)
    bad = replace(
        rollout.batch(1)[0], status=TargetStatus.FAILED, reason="error rate 20.0% over 5.0%"
    )
    message = render.failure_choices(rollout.with_targets([bad]), 1)
    assert [b["action_id"] for b in buttons(message)] == [
        Action.ROLLBACK.button_id,
        Action.RETRY.button_id,
        Action.SKIP.button_id,
    ]
    # The failed tenant by name; why it failed is its batch result's line, told once
    assert bad.namespace in section_texts(message)
    assert "error rate 20.0% over 5.0%" not in section_texts(message)


def test_failure_choices_give_the_cause_of_a_failure_found_while_monitoring() -> None:
    # Given a pilot that failed in its monitor window, after its batch result said healthy
    rollout = fleet(12)
    bad = replace(
        rollout.batch(1)[0], status=TargetStatus.FAILED, reason="error rate 20.0% over 5.0%"
    )
    paused = replace(rollout.with_targets([bad]), phase=Phase.PAUSED, paused_from=Phase.MONITORING)

    # When the choices are offered
    message = render.failure_choices(paused, 1)

    # Then they say why, since no earlier message did
    assert f"{bad.namespace} — error rate 20.0% over 5.0%" in section_texts(message)


def test_notify_lines_are_short_and_link_to_the_thread() -> None:
    rollout = replace(fleet(30), phase=Phase.COMPLETED)
    for kind in render.NOTIFY_KINDS:
        line = render.notify_line(kind, rollout, link="https://slack.example/archives/C1/p1")
        assert (
            "\n" not in line.text and "<https://slack.example/archives/C1/p1|thread>" in line.text
        )
        assert len(line.text) < 300


def test_pack_lines_reports_how_many_were_left_out() -> None:
    lines = [f"line {i:05d} " + "x" * 100 for i in range(1000)]
    sections = render.pack_lines(lines, max_sections=3)
    assert len(sections) == 3 and all(len(s) <= render.MAX_SECTION_CHARS for s in sections)
    shown = sum(s.count("\n") + 1 for s in sections) - 1
    last = sections[-1].splitlines()[-1]
    assert last == f"… and {1000 - shown} more"


def test_user_refs_mention_slack_ids_only() -> None:
    assert render.user_ref("U0ALICE") == "<@U0ALICE>"
    assert render.user_ref("S0LEADS") == "<!subteam^S0LEADS>"
    assert render.user_ref("alice") == "alice"


def test_slack_ids_in_reasons_become_mentions() -> None:
    text = render.mentions("rolled back by U0ALICE; approvers: @U0BOB, @S0LEADS; see USAGE")
    assert text == ("rolled back by <@U0ALICE>; approvers: <@U0BOB>, <!subteam^S0LEADS>; see USAGE")
    assert render.mentions("<@U0BOB> already") == "<@U0BOB> already"


def test_image_tag_is_what_people_read() -> None:
    assert (
        render.image_tag("123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac/isp:v1.2.3") == "v1.2.3"
    )
    assert render.image_tag("localhost:5000/isp:v1.2.3") == "v1.2.3"
    assert render.image_tag(None) == "?"


def test_blue_green_completion_line_speaks_of_traffic() -> None:
    rollout = replace(fleet(1), strategy=Strategy.BLUE_GREEN, app="admin", phase=Phase.COMPLETED)
    line = render.notify_line("completed", rollout, link=None).text
    assert "traffic is on v1.3.0" in line and "tenants" not in line


def test_status_line_says_where_it_paused_and_never_repeats_itself() -> None:
    rollout = replace(fleet(30), phase=Phase.PAUSED, paused_from=Phase.BATCH, current_batch=3)
    assert render.status_line(rollout) == "Paused in batch 3 of 6"
    failed = replace(rollout, reason="tenant-x: error rate 20.0% over 5.0%")
    assert (
        render.status_line(failed)
        == "Paused in batch 3 of 6 — tenant-x: error rate 20.0% over 5.0%"
    )
    gone = replace(rollout, phase=Phase.ROLLED_BACK, reason="rolled back by U0ALICE")
    assert render.status_line(gone) == "Rolled back by <@U0ALICE>"


def test_rolled_back_lines_name_the_image_not_the_old_failure() -> None:
    rollout = fleet(3, pilots=0, batch_size=3)
    back = [
        replace(
            t, status=TargetStatus.ROLLED_BACK, previous_image="r/isp:v1.2.3", reason="old news"
        )
        for t in rollout.targets
    ]
    text = render.rollback_result(rollout.with_targets(back)).text
    assert "old news" not in text and text.count("→ v1.2.3") == 3


def helm_fleet(n: int) -> Rollout:
    rollout = replace(fleet(n, pilots=0, batch_size=n), strategy=Strategy.HELM)
    return rollout.with_targets(replace(t, previous_revision=4) for t in rollout.targets)


def test_a_helm_batch_shows_each_tenants_revisions() -> None:
    # Given a helm batch: one release upgraded, one already there, one failed after it
    rollout = helm_fleet(3)
    up, same, bad = rollout.targets
    took = {"started_at": NOW, "finished_at": NOW + timedelta(seconds=7)}
    rollout = rollout.with_targets([
        replace(up, status=TargetStatus.UPDATED, revision=5, **took),
        replace(same, status=TargetStatus.UPDATED, revision=4, **took),
        replace(bad, status=TargetStatus.FAILED, revision=5, reason="/api/health answered 500",
                **took),
    ])

    lines = render.batch_result_message(rollout, 1).text.splitlines()

    # Then each tenant's line says which Helm revision it went from and to
    assert lines[1] == f"❌ {bad.namespace} 7.0s · Helm revision 4 → 5 — /api/health answered 500"
    assert lines[2] == f"✅ {up.namespace} 7.0s · Helm revision 4 → 5"
    assert lines[3] == f"✅ {same.namespace} 7.0s · Helm revision 4"


def test_a_helm_roll_back_names_the_revision_each_release_went_back_to() -> None:
    rollout = helm_fleet(2)
    back = [replace(t, status=TargetStatus.ROLLED_BACK, revision=6) for t in rollout.targets]
    text = render.rollback_result(rollout.with_targets(back)).text
    assert "2 tenants back on their previous Helm revision" in text
    assert text.count("→ Helm revision 4, as revision 6") == 2


def test_a_helm_rollout_watching_its_pilots_says_so() -> None:
    watching = replace(fleet(7), strategy=Strategy.HELM, phase=Phase.MONITORING)
    assert render.phase_line(watching) == "monitoring the pilots"


def test_a_plan_of_one_pilot_and_one_batch_says_each_in_the_singular() -> None:
    # Given a rollout of two tenants: one pilot, then one batch
    rollout = make_rollout()
    # When its plan is rendered
    text = render.plan_message(rollout, pilots=["tenant-a"], batches=[["tenant-b"]],
                               estimate=AN_HOUR).text
    # Then one pilot and one batch read as such
    assert "1 pilot," in text and "1 batch ·" in text
    assert "1 pilots" not in text and "1 batches" not in text
    # and a single batch is not said to be some time "apart" from another
    assert "apart" not in text
