"""The App Home tab as Block Kit: what runs now with the viewer's buttons, the last ten
that finished with their threads, and a view Slack accepts whatever the size of the fleet.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from handlers.render.home import (
    MAX_SECTION_CHARS,
    MAX_VIEW_BLOCKS,
    ActiveRollout,
    Finished,
    home_view,
)
from rollout.actions import Action
from rollout.model import Phase, Rollout, TargetStatus
from rollout.release import Release, ReleasePhase, plan_steps
from tests.builders import T0, make_rollout, planned_targets

NOW = T0 + timedelta(hours=1)


def fleet(size: int, *, updated: int = 0) -> Rollout:
    """A rollout over `size` tenants, the first `updated` of them on the new version."""
    names = {f"tenant-{i:04d}": 1 + i // 50 for i in range(size)}
    done = {ns: TargetStatus.UPDATED for ns in list(names)[:updated]}
    return make_rollout(phase=Phase.BATCH, current_batch=2, targets=planned_targets(
        names, statuses=done))


def texts(view: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for block in view["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"])
        found += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return found


def buttons(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (e["action_id"], e["value"])
        for block in view["blocks"] if block["type"] == "actions"
        for e in block["elements"]
    ]


def finished(n: int) -> Finished:
    rollout = make_rollout(id=n, version=f"v1.{n}.0", phase=Phase.COMPLETED,
                           finished_at=T0 + timedelta(minutes=n))
    return Finished(rollout, f"https://slack.com/archives/C0RELEASES/p{n:06d}")


def release(phase: ReleasePhase = ReleasePhase.RUNNING) -> Release:
    return Release(id=3, version="v1.4.0", apps=("admin", "isp"), requested_by="U0DAVE",
                   created_at=T0, steps=plan_steps(("admin", "isp"), build_only=False),
                   phase=phase, finished_at=None if phase is ReleasePhase.RUNNING else NOW)


def test_an_empty_home_says_nothing_runs_and_how_to_start() -> None:
    view = home_view(active=[], at=NOW)
    assert view["type"] == "home"
    shown = "\n".join(texts(view))
    assert "Nothing is rolling out" in shown and "/deploy <app> <version>" in shown
    assert "Recently finished:* nothing yet" in shown
    assert buttons(view) == []


def test_a_rollout_shows_its_phase_progress_and_only_the_buttons_given() -> None:
    rollout = replace(fleet(12, updated=2), phase=Phase.AWAITING_APPROVAL)
    view = home_view(active=[ActiveRollout(rollout, (Action.APPROVE, Action.PAUSE))], at=NOW)
    shown = "\n".join(texts(view))
    assert "*isp v1.3.0* · rollout #7" in shown and "*Awaiting approval*" in shown
    assert "2/12" in shown and "Running now:* 1 rollout" in shown
    # The thread's own action IDs and values: the approval names its gate.
    assert buttons(view) == [(Action.APPROVE.button_id, "7:1"), (Action.PAUSE.button_id, "7")]
    assert not any(b["type"] == "actions" for b in home_view(
        active=[ActiveRollout(rollout)], at=NOW)["blocks"])


def test_a_thousand_tenant_fleet_of_many_rollouts_fits_slack_and_shows_counts() -> None:
    big = fleet(1000, updated=400)
    active = [ActiveRollout(replace(big, id=i, app=f"app{i}"), (Action.PAUSE, Action.CANCEL))
              for i in range(40)]
    view = home_view(active=active, releases=[release()] * 8,
                     recent=[finished(n) for n in range(30)], at=NOW)
    assert len(view["blocks"]) <= MAX_VIEW_BLOCKS
    assert all(len(t) <= MAX_SECTION_CHARS for t in texts(view))
    shown = "\n".join(texts(view))
    assert "tenant-0" not in shown  # counts, not names
    assert "400/1000" in shown and "Running now:* 40 rollouts · 8 releases" in shown
    assert "… and 20 more rollouts" in shown and "… and 3 more releases" in shown
    assert len(json.dumps(view)) < 250_000


def test_the_recent_list_keeps_the_ten_newest_with_outcome_and_thread_link() -> None:
    view = home_view(active=[], recent=[finished(n) for n in range(15)], at=NOW)
    shown = "\n".join(texts(view))
    lines = [line for t in texts(view) for line in t.split("\n") if "rollout #" in line]
    assert len(lines) == 10
    assert "rollout #14" in lines[0] and "rollout #5" in lines[-1] and "rollout #4" not in shown
    assert "Completed at 12:14 UTC · 0/0 updated" in lines[0]
    assert "<https://slack.com/archives/C0RELEASES/p000014|thread>" in lines[0]


def test_releases_show_running_above_and_finished_among_the_recent() -> None:
    running = release()
    done = replace(release(ReleasePhase.COMPLETED), id=2)
    view = home_view(active=[], releases=[running], recent=[Finished(done, None)], at=NOW)
    shown = "\n".join(texts(view))
    assert "*Release R3 v1.4.0* by <@U0DAVE>" in shown and "0/" in shown
    assert "Running now:* 0 rollouts · 1 release" in shown
    assert "*Release R2 v1.4.0* · Completed" in shown and "|thread>" not in shown
