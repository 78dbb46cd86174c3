"""A release's Slack messages: the checklist says where every step is, the Stop button is
there only while a stop can still do something, and a failed step's output fits in Slack.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers import render
from rollout.actions import Action
from rollout.release import (
    Release,
    ReleasePhase,
    ReleasePlan,
    Step,
    StepKind,
    cancelled,
    deploy_started,
    failed,
    finished,
    plan_steps,
    started,
    stop_requested,
)

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fresh(apps: Iterable[str] = ("admin", "isp"), *, build_only: bool = False) -> Release:
    names = tuple(apps)
    return Release(id=7, version="v1.3.1", apps=names, requested_by="U0ALICE", created_at=T0,
                   steps=plan_steps(names, build_only=build_only), ref="v1.3.1",
                   revision="1a2b3c4d5e6f", build_only=build_only)


def run(release: Release, key: str, *, start: float, end: float, **done: Any) -> Release:
    return finished(started(release, key, now=at(start)), key, now=at(end), **done)


def built(release: Release) -> Release:
    """Preflight, install, the shared build, both images, pushes and verifies all done."""
    for i, key in enumerate(["preflight", "install", "shared-build", "checks"]):
        release = run(release, key, start=i * 10, end=i * 10 + 5)
    for kind in ("image", "push"):
        for app in release.apps:
            release = run(release, f"{kind}:{app}", start=40, end=70)
    for app in release.apps:
        release = run(release, f"verify:{app}", start=80, end=81, digest=DIGEST)
    return release


def texts(message: render.Message) -> str:
    parts: list[str] = []
    for block in message.blocks:
        if block["type"] == "section":
            parts.append(block["text"]["text"])
        elif block["type"] == "context":
            parts.extend(e["text"] for e in block["elements"])
    return "\n".join(parts)


def buttons(message: render.Message) -> list[dict[str, Any]]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def assert_fits(message: render.Message) -> None:
    assert message.text
    assert len(message.blocks) <= render.MAX_BLOCKS
    for block in message.blocks:
        assert len(block.get("text", {}).get("text", "")) <= render.MAX_SECTION_CHARS
        for element in block.get("elements", []):
            if isinstance(element.get("text"), str):
                assert len(element["text"]) <= render.MAX_SECTION_CHARS


def test_the_checklist_shows_every_state_a_step_can_be_in() -> None:
    # Given a release whose admin image is built, isp's still building, and nothing pushed
    release = run(fresh(), "preflight", start=0, end=4)
    release = run(release, "install", start=4, end=64)
    release = run(release, "shared-build", start=64, end=70)
    release = run(release, "image:admin", start=70, end=95)
    release = started(release, "image:isp", now=at(70))
    # When the parent message is rendered
    message = render.release_parent(release)
    # Then each step says where it is: done with its duration, running since when, pending
    lines = texts(message).splitlines()
    assert "📦 *Release R7 v1.3.1* by <@U0ALICE> · admin, isp · ref v1.3.1 (1a2b3c4)" in lines
    assert "*Running: Build the isp image*" in lines
    assert "✅ Install dependencies · 1m" in lines
    assert "✅ Build the admin image · 25s" in lines
    assert "🔄 *Build the isp image* · running since 09:01 UTC" in lines
    assert "⬜ Push the admin image" in lines
    assert "⬜ Deploy isp" in lines
    # And a Stop button carries the release's ID and asks to be sure
    (stop,) = buttons(message)
    assert (stop["action_id"], stop["value"], stop["style"]) == (
        Action.STOP_RELEASE.button_id, "7", "danger")
    assert stop["confirm"]["title"]["text"] == "Stop R7?"
    assert_fits(message)


def test_a_failed_step_and_the_skipped_rest_read_as_such_and_stop_goes() -> None:
    release = run(fresh(), "preflight", start=0, end=1)
    release = run(release, "install", start=1, end=2)
    release = started(release, "shared-build", now=at(2))
    release = failed(release, "shared-build", now=at(14),
                     reason='`pnpm build` exited with 1\nmore detail <here>')
    message = render.release_parent(release)
    lines = texts(message).splitlines()
    assert "*Failed at Build the shared packages*" in lines
    assert ("❌ *Build the shared packages* · failed after 12s — `pnpm build` exited with 1 "
            "(more in the thread)") in lines
    assert "⏭️ Build the admin image · skipped" in lines
    assert buttons(message) == []
    assert message.text.startswith("❌ *Release R7 v1.3.1*")


def test_stop_goes_once_asked_for_and_the_checklist_says_who_stopped_it() -> None:
    release = started(run(fresh(), "preflight", start=0, end=1), "install", now=at(1))
    asked = stop_requested(release, user="U0BOB")
    assert buttons(render.release_parent(asked)) == []
    assert "*Stopping, as <@U0BOB> asked*" in texts(render.release_parent(asked))
    stopped = failed(cancelled(asked, user="U0BOB", now=at(3)), "install", now=at(3),
                     reason="stopped by U0BOB")
    lines = texts(render.release_parent(stopped)).splitlines()
    assert "*Stopped by <@U0BOB>*" in lines
    assert "❌ *Install dependencies* · failed after 2s — stopped by <@U0BOB>" in lines


def test_deploys_name_their_rollouts_and_a_running_one_links_its_thread() -> None:
    release = started(built(fresh()), "deploy:admin", now=at(90))
    release = deploy_started(release, "deploy:admin", rollout_id=12)
    assert "🔄 *Deploy admin* · running since 09:01 UTC · rollout #12" in texts(
        render.release_parent(release))
    reply = render.deploy_running(release.step("deploy:admin"), rollout_id=12,
                                  link="https://slack.example/p12")
    assert reply.text.startswith(
        "🚀 *Deploy admin* runs as rollout #12 · <https://slack.example/p12|thread>")


def test_a_finished_step_gets_a_reply_with_what_came_of_it() -> None:
    release = built(fresh())
    verify = render.step_finished(release, release.step("verify:isp"))
    assert verify.text == f"✅ *Verify isp in the registry* done in 1s\n`{DIGEST}`"
    release = run(release, "deploy:admin", start=90, end=300, detail="#12 completed")
    deploy = render.step_finished(release, release.step("deploy:admin"), link="https://l/p")
    assert deploy.text == "✅ *Deploy admin* done in 3m30s · <https://l/p|thread>\n#12 completed"


def test_a_refused_preflight_lists_every_problem_in_the_thread() -> None:
    problems = ["apps/isp-ops-app/package.json says version 1.3.0, not 1.3.1: edit it",
                "the registry refused the credentials <bad>", "U0EVE is not a deployer"]
    release = failed(started(fresh(), "preflight", now=T0), "preflight", now=at(2),
                     reason="\n".join(problems))
    reply = render.step_finished(release, release.step("preflight"))
    assert reply.text.splitlines() == [
        "❌ *Preflight found 3 problems*; R7 stops here and nothing was built:",
        "• apps/isp-ops-app/package.json says version 1.3.0, not 1.3.1: edit it",
        "• the registry refused the credentials &lt;bad&gt;",
        "• <@U0EVE> is not a deployer",
    ]
    assert "❌ *Preflight* · failed after 2s — 3 problems, listed in the thread" in texts(
        render.release_parent(release))


def test_the_tail_of_a_failed_step_is_its_last_30_lines_in_a_code_block() -> None:
    step = Step(kind=StepKind.IMAGE, app="isp")
    tail = "\n".join(f"Step {i}/100 : RUN make <target> && echo ```" for i in range(1, 101))
    message = render.tail_message(step, tail)
    body = message.text.split("```\n", 1)[1].rsplit("\n```", 1)[0].splitlines()
    assert message.text.startswith("Last 30 lines of *Build the isp image*:\n```\n")
    assert body[0] == "Step 71/100 : RUN make &lt;target&gt; &amp;&amp; echo '''"
    assert body[-1].startswith("Step 100/100")
    assert_fits(message)


@pytest.mark.parametrize("width", [150, 2000])
def test_a_tail_too_long_for_slack_keeps_its_last_lines_and_says_how_many(width: int) -> None:
    step = Step(kind=StepKind.IMAGE, app="isp")
    tail = "\n".join(f"{i:03d} " + "x" * width for i in range(40))
    message = render.tail_message(step, tail)
    assert_fits(message)
    shown = int(message.text.split()[1])
    assert 1 <= shown < 30
    assert message.text.rstrip("`\n").endswith("x" * 10 if width < 400 else "x…")
    assert "\n039 " in message.text


def test_the_summary_says_what_was_pushed_and_deployed() -> None:
    release = built(fresh())
    release = run(release, "deploy:admin", start=90, end=200, detail="#12 completed")
    release = run(release, "deploy:isp", start=200, end=725, detail="#13 completed")
    release = replace(release, steps=tuple(
        replace(s, rollout_id=12 if s.app == "admin" else 13) if s.kind == "deploy" else s
        for s in release.steps))
    summary = render.release_summary(release)
    assert summary.text.splitlines() == [
        "✅ *Release R7 v1.3.1* completed in 12m5s.",
        "In the registry: admin `sha256:abababababab`, isp `sha256:abababababab`.",
        "admin: rollout #12 completed.",
        "isp: rollout #13 completed.",
    ]


def test_a_stop_during_a_deploy_leaves_it_as_a_rollout_and_says_so() -> None:
    release = deploy_started(started(built(fresh()), "deploy:admin", now=at(90)),
                             "deploy:admin", rollout_id=12)
    stopped = cancelled(release, user="U0BOB", now=at(100))
    assert stopped.phase is ReleasePhase.CANCELLED
    assert render.release_summary(stopped).text.splitlines()[1:] == [
        "In the registry: admin `sha256:abababababab`, isp `sha256:abababababab`.",
        "admin: rollout #12 goes on as a normal rollout; pause or roll it back in its thread.",
    ]
    assert render.release_summary(stopped).text.startswith(
        "🚫 *Release R7 v1.3.1* was stopped by <@U0BOB> after 1m40s.")


def test_a_failed_release_says_nothing_was_pushed_or_deployed() -> None:
    release = run(fresh(), "preflight", start=0, end=1)
    release = failed(started(release, "install", now=at(1)), "install", now=at(31),
                     reason="`pnpm install --frozen-lockfile` exited with 1")
    assert render.release_summary(release).text.splitlines() == [
        "❌ *Release R7 v1.3.1* failed at Install dependencies after 31s: "
        "`pnpm install --frozen-lockfile` exited with 1",
        "Nothing was pushed.",
        "Nothing was deployed.",
    ]
    build_only = render.release_summary(failed(started(fresh(build_only=True), "preflight",
                                                       now=T0), "preflight", now=at(1),
                                               reason="no engine"))
    assert build_only.text.splitlines()[1:] == ["Nothing was pushed.",
                                                "Build only: nothing was deployed."]


def test_notify_lines_are_one_line_each_with_a_link() -> None:
    release = built(fresh())
    link = "https://slack.example/archives/C0RELEASES/p1"
    lines = {kind: render.release_notify_line(kind, release, link=link).text
             for kind in sorted(render.RELEASE_NOTIFY_KINDS)}
    assert lines["started"] == (
        f"📦 Release R7 v1.3.1 started by <@U0ALICE>: admin and isp · <{link}|thread>")
    assert lines["built"].startswith("🏗️ Release R7 v1.3.1 built: admin and isp in the registry")
    assert lines["completed"].startswith("✅ Release R7 v1.3.1 completed: admin and isp deployed")
    broken = failed(started(fresh(), "preflight", now=T0), "preflight", now=at(1),
                    reason="the Docker engine does not answer at unix:///x.sock")
    assert render.release_notify_line("failed", broken, link=None).text == (
        "❌ Release R7 v1.3.1 failed at Preflight: the Docker engine does not answer at "
        "unix:///x.sock")
    stopped = cancelled(fresh(), user="U0BOB", now=at(5))
    assert render.release_notify_line("cancelled", stopped, link=None).text == (
        "🚫 Release R7 v1.3.1 was stopped by <@U0BOB>")
    assert all("\n" not in line for line in lines.values())


def test_a_release_of_many_apps_fits_in_one_message() -> None:
    release = fresh([f"app{i:02d}" for i in range(40)])
    message = render.release_parent(release)
    assert_fits(message)
    assert "⬜ Deploy app39" in message.text
    assert buttons(message)


def test_an_uploaded_log_is_named_after_the_release_and_the_step() -> None:
    release = started(run(fresh(), "preflight", start=0, end=1), "install", now=at(1))
    assert render.log_file(release, release.step("install")) == (
        "R7-install.log", "R7 Install dependencies: whole log")



# --- answers to one person ----------------------------------------------------------------


def test_a_dry_run_lists_what_preflight_says_every_step_image_and_deploy_plan() -> None:
    release = replace(fresh(), id=0)
    plan = ReleasePlan(release, {"admin": "reg/admin:v1.3.1", "isp": "reg/isp:v1.3.1"}, {},
                       ("apps/isp-ops-app/package.json says 1.3.0, not 1.3.1",))
    deploys = {"isp": render.Message(text="Dry run — nothing will change. *Plan for isp*\n"
                                          "*Batch 1* (2): tenant-a, tenant-b")}
    message = render.release_plan(plan, deploys=deploys)
    lines = message.text.splitlines()
    assert lines[0] == "Dry run — nothing will change. *Release v1.3.1* of admin, isp"
    assert lines[1:3] == ["🚫 Preflight would refuse it now (1):",
                          "• apps/isp-ops-app/package.json says 1.3.0, not 1.3.1"]
    assert "1. Preflight" in lines and "4. Run the checks" in lines and "12. Deploy isp" in lines
    assert "admin: `reg/admin:v1.3.1`" in lines
    assert lines[-3:] == ["*Deploy isp*", "Dry run — nothing will change. *Plan for isp*",
                          "*Batch 1* (2): tenant-a, tenant-b"]
    assert_fits(message)


def test_status_is_the_checklist_without_stop_and_the_list_has_a_line_each() -> None:
    running = started(fresh(), "preflight", now=T0)
    detail = render.release_detail(running)
    assert buttons(detail) == [] and "🔄 *Preflight*" in detail.text
    done = replace(built(fresh()), id=6)
    listed = render.release_list([running, done]).text.splitlines()
    assert listed[0] == "*Recent releases*"
    assert listed[1] == ("📦 R7 v1.3.1 · Running: Preflight · 2026-11-29 09:00 UTC by "
                         "<@U0ALICE>")
    assert render.release_list([]).text == "No releases yet."


def test_a_stop_answer_says_what_the_stop_does_or_why_there_was_nothing_to_stop() -> None:
    release = started(run(fresh(), "preflight", start=0, end=1), "install", now=at(1))
    taken = cancelled(release, user="U0BOB", now=at(2))
    assert render.release_stop_asked(taken, user="U0BOB").text == (
        "Stop of R7 requested by <@U0BOB> (Install dependencies is being ended); nothing "
        "more is pushed and no further deploy starts.")
    assert render.release_stop_asked(taken, user="U0CAROL").text == (
        "R7 was already stopped by <@U0BOB>.")
    ended = failed(release, "install", now=at(3), reason="exit 1")
    assert render.release_stop_asked(ended, user="U0BOB").text == (
        "R7 has already ended: Failed at Install dependencies.")


def test_the_checks_reply_names_the_checks_run_and_those_skipped() -> None:
    release = fresh()
    for i, key in enumerate(["preflight", "install", "shared-build"]):
        release = run(release, key, start=i * 10, end=i * 10 + 5)
    detail = render.checks_detail(['pnpm --filter "./shared/packages/**" test'],
                                  ["pnpm --filter isp-ops-app test:e2e"])
    release = run(release, "checks", start=30, end=42, detail=detail)
    reply = render.step_finished(release, release.step("checks"))
    assert reply.text.splitlines() == [
        "✅ *Run the checks* done in 12s",
        'Ran: `pnpm --filter "./shared/packages/**" test`',
        "Skipped, as no package they select defines the script: "
        "`pnpm --filter isp-ops-app test:e2e`",
    ]
    assert "✅ Run the checks · 12s" in render.release_parent(release).text


def test_checks_left_out_with_skip_checks_say_who_left_them_out_everywhere() -> None:
    release = replace(fresh(), skip_checks=True,
                      steps=plan_steps(("admin", "isp"), build_only=False, skip_checks=True))
    parent = render.release_parent(release).text
    assert parent.splitlines()[0].endswith("· checks skipped (skip-checks)")
    assert "⏭️ Run the checks · skipped — checks skipped by <@U0ALICE> (skip-checks)" in parent
    done = replace(built(fresh()), skip_checks=True, phase=ReleasePhase.COMPLETED,
                   finished_at=at(100))
    assert render.release_summary(done).text.splitlines()[1] == (
        "Checks skipped by <@U0ALICE> (skip-checks).")
    assert "Checks skipped" not in render.release_summary(replace(done, skip_checks=False)).text


def test_a_failed_check_names_the_check_and_shows_its_output_like_a_build() -> None:
    assert StepKind.CHECKS in render.SHOWS_OUTPUT
    release = fresh()
    for i, key in enumerate(["preflight", "install", "shared-build"]):
        release = run(release, key, start=i * 10, end=i * 10 + 5)
    release = failed(started(release, "checks", now=at(30)), "checks", now=at(33),
                     reason='`pnpm --filter "./shared/packages/**" lint` exited with status 1')
    summary = render.release_summary(release).text.splitlines()
    assert summary[0] == ('❌ *Release R7 v1.3.1* failed at Run the checks after 33s: '
                          '`pnpm --filter "./shared/packages/**" lint` exited with status 1')
    assert summary[1:] == ["Nothing was pushed.", "Nothing was deployed."]


def test_a_dry_run_with_skip_checks_shows_the_checks_left_out() -> None:
    release = replace(fresh(), id=0, skip_checks=True,
                      steps=plan_steps(("admin", "isp"), build_only=False, skip_checks=True))
    plan = ReleasePlan(release, {"admin": "reg/admin:v1.3.1", "isp": "reg/isp:v1.3.1"}, {}, ())
    lines = render.release_plan(plan, deploys={}).text.splitlines()
    assert "4. Run the checks (skipped: skip-checks)" in lines
    assert "5. Build the admin image" in lines
