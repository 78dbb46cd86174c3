"""rollbot over HTTP, as Slack drives it: signed requests to `POST /slack/events`.

Given the bot running in-process against the Slack stand-in and the simulated cluster,
when people type commands and click buttons, then every request is acked within Slack's
three seconds, refusals are explained privately and audited, and only what policy
allows reaches the engine. The event loop runs in asyncio debug mode: a handler that
blocked it would show up as a slow callback and fail the test.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import string
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client

from handlers.slash import SlashRequest, answer
from rollout.actions import Action
from rollout.model import Phase, TargetStatus
from sim.kube.harness import SimHandle, start_sim
from sim.prometheus import PrometheusStandIn
from sim.slack import FaultKind, SignatureMode
from tests.e2e.slack_fixtures import (
    ACK_DEADLINE,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    ELSEWHERE,
    MALLORY,
    WAIT,
    C,
    config_text,
    loop_watch,
    running_bot,
    slack_standin,
)
from tests.e2e.slack_story_support import serve_env, serve_process

GENERIC_FAILURE = "Something went wrong"


async def test_signed_deploy_is_acked_in_time_and_starts_the_rollout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with loop_watch(caplog) as slow_callbacks:
        async with running_bot(tmp_path) as bot:
            sent = await bot.command("isp v1.3.1 batch=5 pilot=2")

            assert sent.status == 200 and sent.elapsed < ACK_DEADLINE
            reply = await bot.reply(ALICE, "accepted")
            assert "#1" in reply.text
            rollout = await bot.wait(1)
            assert rollout.phase is Phase.AWAITING_APPROVAL
            assert rollout.source == "slack" and rollout.requested_by == ALICE
            assert rollout.settings.batch_size == 5
            pilots = rollout.batch(0)
            assert len(pilots) == 2 and all(t.status is TargetStatus.UPDATED for t in pilots)
        assert slow_callbacks() == []


@pytest.mark.parametrize(
    "text",
    [
        "nosuchapp v1.3.1",
        "isp 1.3.1",
        "isp v1.3.1 batch=0",
        "isp v1.3.1 tenants=Not_A_Namespace",
        "isp v1.3.1 dry-run=true",
        "isp v1.3.1 dry-run=false",
        "v1.3.1 isp",
        "isp",
        "".join(random.Random(7).choices(string.printable, k=4000)),
    ],
)
async def test_bad_input_gets_a_private_usage_error_and_starts_nothing(
    tmp_path: Path, text: str
) -> None:
    async with running_bot(tmp_path, tenants=3) as bot:
        sent = await bot.command(text)

        assert sent.status == 200 and sent.elapsed < ACK_DEADLINE
        reply = await bot.reply(ALICE)
        assert "Usage: /deploy" in reply.text
        assert await asyncio.to_thread(bot.runtime.store.list_rollouts) == []
        assert bot.slack.messages(C) == []


@pytest.mark.parametrize("mode", [SignatureMode.UNSIGNED, SignatureMode.WRONG, SignatureMode.STALE])
async def test_requests_not_signed_by_slack_are_refused_with_401(
    tmp_path: Path, mode: SignatureMode
) -> None:
    async with running_bot(tmp_path, tenants=3) as bot:
        sent = await bot.command("isp v1.3.1", signature=mode)
        clicked = await bot.slack.send_block_action_async(
            bot.events_url,
            action_id=Action.APPROVE.button_id,
            value="1:1",
            user_id=BOB,
            message_ts="1.000001",
            channel_id=C,
            signature=mode,
        )

        assert sent.status == 401 and clicked.status == 401
        store = bot.runtime.store
        assert await asyncio.to_thread(store.list_rollouts) == []
        assert await asyncio.to_thread(store.audit_log) == []
        assert bot.slack.ephemerals() == [] and bot.slack.responses() == []


async def test_refusals_are_explained_privately_and_audited(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=3) as bot:
        await bot.command("isp v1.3.1", user=MALLORY)
        await bot.command("isp v1.3.1", channel=ELSEWHERE)

        not_listed = await bot.reply(MALLORY, "not a deployer of isp")
        wrong_place = await bot.reply(ALICE, "release channels")
        assert not_listed.channel == C and wrong_place.channel == ELSEWHERE
        audit = await asyncio.to_thread(bot.runtime.store.audit_log)
        refused = {(e.user, e.outcome, e.source) for e in audit}
        assert (MALLORY, "refused", "slack") in refused
        assert (ALICE, "refused", "slack") in refused
        assert all("/deploy isp v1.3.1" in e.action for e in audit)
        assert await asyncio.to_thread(bot.runtime.store.list_rollouts) == []


async def test_without_release_channels_a_rollout_is_posted_where_it_was_asked_for(
    tmp_path: Path,
) -> None:
    config = config_text().replace(f"release_channels: [{C}]", "release_channels: []")
    assert "release_channels: []" in config
    async with running_bot(tmp_path, tenants=3, config=config) as bot:
        sent = await bot.command("isp v1.3.1 pilot=1", channel=ELSEWHERE)
        assert sent.status == 200 and sent.elapsed < ACK_DEADLINE
        assert "Progress follows in this channel" in (await bot.reply(ALICE, "accepted")).text
        waiting = await bot.wait(1)
        assert waiting.phase is Phase.AWAITING_APPROVAL and waiting.channel == ELSEWHERE

        # The parent message and its whole thread are in the channel of the command.
        request = await bot.slack.wait_for_message_async(
            ELSEWHERE, "Approval needed for #1", timeout=WAIT
        )
        (parent,) = bot.slack.messages(ELSEWHERE)
        assert "isp v1.3.1" in parent.text and request.thread_ts == parent.ts
        await bot.click(Action.APPROVE.button_id, ts=request.ts, user=CAROL, channel=ELSEWHERE)
        await bot.decided(request.ts, "Approved", channel=ELSEWHERE)
        assert (await bot.wait(1)).phase is Phase.COMPLETED

        # A roll back started from the parent's button goes on in the same thread.
        await bot.click(Action.ROLLBACK.button_id, ts=parent.ts, user=BOB, channel=ELSEWHERE)
        await bot.reply(BOB, "Roll back chosen for #1")
        assert (await bot.wait(1)).phase is Phase.ROLLED_BACK
        await bot.slack.wait_for_message_async(
            ELSEWHERE, "rolled back", thread_ts=parent.ts, timeout=WAIT
        )
        assert [m.ts for m in bot.slack.messages(ELSEWHERE)] == [parent.ts]
        assert bot.slack.messages(C, include_replies=True) == []


async def test_group_members_are_resolved_once_and_failures_refuse_with_a_reason(
    tmp_path: Path,
) -> None:
    async with running_bot(tmp_path, tenants=3) as bot:
        await bot.command("isp v1.3.1 dry-run", user=DAVE)
        await bot.reply(DAVE, "Dry run")
        await bot.command("isp v1.3.1 dry-run", user=DAVE)
        await bot.reply(DAVE, "Dry run", after=1)
        assert len(bot.slack.calls("usergroups.users.list")) == 1  # cached

        bot.slack.add_fault("usergroups.users.list", FaultKind.SERVER_ERROR, status=500)
        bot.server.app.edge.groups.forget()  # type: ignore[attr-defined]
        await bot.command("isp v1.3.1", user=DAVE)

        refusal = await bot.reply(DAVE, "could not check your membership", after=2)
        # the same words as a terminal's: the rule's own reason, then why groups are unknown
        assert "You are not a deployer of isp" in refusal.text
        assert (
            "; rollbot could not check your membership of user group <!subteam^S0RELEASE> "
            "(Slack answered HTTP 500 (fatal_error)); try again in a minute."
        ) in refusal.text
        audit = await asyncio.to_thread(bot.runtime.store.audit_log)
        assert audit[-1].user == DAVE and audit[-1].outcome == "refused"
        assert await asyncio.to_thread(bot.runtime.store.list_rollouts) == []


async def test_approval_follows_policy_and_a_second_click_changes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with loop_watch(caplog) as slow_callbacks:
        async with running_bot(tmp_path, tenants=8) as bot:
            await bot.deploy("isp v1.3.1 batch=3 pilot=2", user=BOB)
            assert (await bot.wait(1)).phase is Phase.AWAITING_APPROVAL
            request = await bot.approval_message(1)

            await bot.click(Action.APPROVE.button_id, ts=request.ts, user=MALLORY)
            assert "not an approver" in (await bot.reply(MALLORY, "🚫")).text
            await bot.click(Action.APPROVE.button_id, ts=request.ts, user=ALICE)
            assert "not an approver" in (await bot.reply(ALICE, "🚫")).text
            await bot.click(Action.APPROVE.button_id, ts=request.ts, user=BOB)
            assert "Four-eyes" in (await bot.reply(BOB, "🚫")).text
            assert (await bot.rollout(1)).phase is Phase.AWAITING_APPROVAL

            sent = await bot.click(Action.APPROVE.button_id, ts=request.ts, user=CAROL)
            assert sent.status == 200 and sent.elapsed < ACK_DEADLINE
            edited = await bot.decided(request.ts, "Approved")
            assert "<@U0CAROL>" in edited.text
            assert "actions" not in [b["type"] for b in edited.blocks]
            done = await bot.wait(1)
            assert done.phase is Phase.COMPLETED
            assert all(t.status is TargetStatus.UPDATED for t in done.targets)

            # A client that still shows the old buttons clicks again.
            await bot.click(Action.APPROVE.button_id, ts=request.ts, user=CAROL, value="1:1")
            assert "finished" in (await bot.reply(CAROL, "🚫")).text
            assert (await bot.rollout(1)).approvals == done.approvals

            audit = await asyncio.to_thread(bot.runtime.store.audit_log)
            refused = {e.user for e in audit if e.outcome == "refused"}
            assert {MALLORY, ALICE, BOB, CAROL} <= refused
            approved = [e for e in audit if e.outcome == "ok" and "approve" in e.action]
            assert [e.user for e in approved] == [CAROL]
        assert slow_callbacks() == []


async def test_two_approvals_needed_from_two_people(tmp_path: Path) -> None:
    config = config_text(approvals_required=2)
    async with running_bot(tmp_path, tenants=5, config=config) as bot:
        await bot.deploy("isp v1.3.1 batch=3 pilot=1")
        await bot.wait(1)
        request = await bot.approval_message(1)

        await bot.click(Action.APPROVE.button_id, ts=request.ts, user=BOB)
        assert "1 of 2" in (await bot.reply(BOB, "recorded")).text
        await bot.click(Action.APPROVE.button_id, ts=request.ts, user=BOB)
        assert "already approved" in (await bot.reply(BOB, "🚫")).text
        assert (await bot.rollout(1)).phase is Phase.AWAITING_APPROVAL

        await bot.click(Action.APPROVE.button_id, ts=request.ts, user=CAROL)  # via S0LEADS
        await bot.decided(request.ts, "Approved")
        assert (await bot.wait(1)).phase is Phase.COMPLETED


async def test_buttons_keep_working_after_a_restart(tmp_path: Path) -> None:
    slack = await asyncio.to_thread(slack_standin)
    sim = await asyncio.to_thread(start_sim, tenants=5, ready_delay=0.02)
    try:
        async with running_bot(tmp_path, slack=slack, sim=sim) as before:
            await before.deploy("isp v1.3.1 batch=3 pilot=1")
            await before.wait(1)
            request = await before.approval_message(1)
        # A new process on the same journal: nothing about the button lives in memory.
        async with running_bot(tmp_path, slack=slack, sim=sim) as after:
            assert (await after.rollout(1)).phase is Phase.AWAITING_APPROVAL
            await after.click(Action.APPROVE.button_id, ts=request.ts, user=BOB)
            await after.decided(request.ts, "Approved")
            assert (await after.wait(1)).phase is Phase.COMPLETED
    finally:
        await asyncio.to_thread(slack.close)
        await asyncio.to_thread(sim.stop)


async def test_pause_resume_cancel_and_roll_back_from_slack(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=5) as bot:
        await bot.deploy("isp v1.3.1 batch=3 pilot=1")
        await bot.wait(1)
        await bot.command("pause 1")
        await bot.reply(ALICE, "Pause of #1 requested")
        assert (await bot.rollout(1)).phase is Phase.PAUSED

        parent = await bot.slack.wait_for_message_async(C, "Resume", timeout=WAIT)
        await bot.click(Action.RESUME.button_id, ts=parent.ts, user=MALLORY)
        assert "may not resume" in (await bot.reply(MALLORY, "🚫")).text
        await bot.click(Action.RESUME.button_id, ts=parent.ts, user=DAVE)  # a deployer by group
        await bot.reply(DAVE, "Resume requested for #1")
        assert (await bot.wait(1)).phase is Phase.AWAITING_APPROVAL

        await bot.command("cancel 1", user=MALLORY)
        assert "may not cancel" in (await bot.reply(MALLORY, "🚫", after=1)).text
        await bot.command("cancel 1")
        await bot.reply(ALICE, "Cancel of #1 requested")
        cancelled = await bot.wait(1)
        assert cancelled.phase is Phase.CANCELLED

        await bot.command("1", command="/rollback", user=CAROL)  # an approver may roll back
        await bot.reply(CAROL, "Rollback of #1 requested")
        rolled_back = await bot.wait(1)
        assert rolled_back.phase is Phase.ROLLED_BACK
        pilot = rolled_back.batch(0)[0]
        assert pilot.status is TargetStatus.ROLLED_BACK
        deployment = await asyncio.to_thread(
            bot.sim.get, "deployments", pilot.namespace, "isp-ops-app"
        )
        assert deployment is not None
        images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
        assert images == [pilot.previous_image]


async def test_a_failed_tenant_offers_choices_that_follow_policy(tmp_path: Path) -> None:
    config = config_text(approval=False, pilot=0, batch=2)
    async with running_bot(tmp_path, tenants=4, config=config) as bot:
        await asyncio.to_thread(bot.sim.set_behaviour, "tenant-metro-link", "v1.3.1", "unhealthy")
        await bot.deploy("isp v1.3.1")
        paused = await bot.wait(1)
        assert paused.phase is Phase.PAUSED
        assert paused.target("tenant-metro-link").status is TargetStatus.FAILED
        choices = await bot.slack.wait_for_message_async(C, "failed in batch", timeout=WAIT)

        await bot.click(Action.SKIP.button_id, ts=choices.ts, user=MALLORY)
        assert "may not resume" in (await bot.reply(MALLORY, "🚫")).text
        await bot.click(Action.SKIP.button_id, ts=choices.ts, user=ALICE)
        await bot.decided(choices.ts, "Skip chosen")
        done = await bot.wait(1)
        assert done.phase is Phase.COMPLETED
        assert done.target("tenant-metro-link").status is TargetStatus.SKIPPED

        await bot.click(
            Action.RETRY.button_id, ts=choices.ts, user=ALICE, value=f"1:{paused.current_batch}"
        )
        assert "finished" in (await bot.reply(ALICE, "🚫")).text


async def test_health_answers_for_one_tenant_and_for_the_fleet(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=3) as bot:
        await bot.command("health isp tenant-fast-fiber", user=MALLORY, channel=ELSEWHERE)
        one = await bot.reply(MALLORY, "tenant-fast-fiber")
        await bot.command("health isp", user=MALLORY, channel=ELSEWHERE)
        fleet = await bot.reply(MALLORY, "3 tenants", after=1)

        assert "healthy" in one.text and "❌" not in one.text
        assert "v1.2.3 ×3" in fleet.text


def _pin(sim: SimHandle, namespace: str, image: str) -> None:
    """Point one tenant's deployment at `image`, as `kubectl set image` would."""
    body = {"spec": {"template": {"spec": {"containers": [{"name": "frontend", "image": image}]}}}}
    with client.ApiClient(client.Configuration(host=sim.url)) as api:
        client.AppsV1Api(api).patch_namespaced_deployment("isp-ops-app", namespace, body)


async def test_health_reads_the_version_from_the_tag_of_a_pinned_image(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=3) as bot:
        # Given one tenant running its version pinned by digest on a registry with a port
        pinned = f"registry.example:5000/dotmac/isp-ops-app:v1.2.3@sha256:{'ab' * 32}"
        await asyncio.to_thread(_pin, bot.sim, "tenant-fast-fiber", pinned)

        # When Mallory asks for the fleet's health, and for that tenant's
        await bot.command("health isp", user=MALLORY, channel=ELSEWHERE)
        fleet = await bot.reply(MALLORY, "3 tenants")
        await bot.command("health isp tenant-fast-fiber", user=MALLORY, channel=ELSEWHERE)
        one = await bot.reply(MALLORY, "tenant-fast-fiber/", after=1)

    # Then the version is the image's tag, neither the digest nor the port
    assert "v1.2.3 ×3" in fleet.text
    assert "(v1.2.3, " in one.text and "sha256" not in one.text + fleet.text


class PortLog:
    """The edge's port, passed through, noting each member the handlers reach for."""

    def __init__(self, port: object) -> None:
        self._port = port
        self.reached: list[str] = []

    def __getattr__(self, name: str) -> object:
        self.reached.append(name)
        return getattr(self._port, name)


async def test_the_handlers_reach_the_rest_of_rollbot_through_one_port(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=3) as bot:
        # Given the edge's port passed through a log
        edge = bot.server.app.edge  # type: ignore[attr-defined]
        logged = PortLog(edge.port)
        edge.port = logged

        # When people plan, check health, deploy (twice) and approve
        await bot.command("isp v1.3.1 dry-run", user=BOB)
        await bot.reply(BOB, "Dry run")
        await bot.command("health isp", user=BOB)
        await bot.reply(BOB, "3 tenants")
        await bot.command("isp v1.3.1")
        await bot.reply(ALICE, "accepted")
        request = await bot.approval_message(1)
        await bot.command("isp v1.3.2", user=ALICE)
        await bot.reply(ALICE, "already has an active rollout")
        await bot.click(Action.APPROVE.button_id, ts=request.ts, user=BOB)
        await bot.decided(request.ts, "Approved")

    # Then every one of them went through that port: the journal, the clock, the cluster,
    # the engine and the delivery's journal of messages
    assert {"store", "clock", "cluster", "plan", "preview", "start", "submit",
            "mark_decided", "message_ref"} <= set(logged.reached)


class BrokenJournal(PortLog):
    """The edge's port with a journal that fails every read."""

    @property
    def store(self) -> object:
        raise RuntimeError("disk I/O error")


async def test_a_command_and_a_click_that_meet_a_bug_are_answered_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(tmp_path, tenants=3) as bot:
        # Given a rollout at its gate, and then a journal the edge can no longer read
        await bot.command("isp v1.3.1")
        request = await bot.approval_message(1)
        edge = bot.server.app.edge  # type: ignore[attr-defined]
        edge.port = BrokenJournal(edge.port)

        # When Bob asks for its status, and clicks Approve
        await bot.command("status 1", user=BOB)
        command = await bot.reply(BOB, GENERIC_FAILURE)
        await bot.click(Action.APPROVE.button_id, ts=request.ts, user=BOB, value="1:1")
        click = await bot.reply(BOB, GENERIC_FAILURE, after=1)

    # Then each is told something went wrong, in its own words, and the log says what failed
    assert "`/deploy status` shows where things stand" in command.text
    assert "nothing was changed" in click.text
    failed = [r.getMessage() for r in caplog.records if r.exc_info]
    assert "/deploy status 1 from U0BOB failed" in failed
    assert "button approve 1:1 from U0BOB failed" in failed


async def test_commands_stay_fast_while_a_200_tenant_rollout_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_text(approval=False, pilot=0, batch=20)
    with loop_watch(caplog) as slow_callbacks:
        async with running_bot(tmp_path, tenants=200, config=config) as bot:
            await bot.deploy("isp v1.3.1")
            await bot.reach(1, Phase.BATCH)
            texts = ["status", "status 1", "list", "history isp", "help", "isp v9", "pause"]
            texts += ["isp v1.3.2", "health isp fast-fiber", "isp v1.3.2 dry-run"]
            sent = await asyncio.gather(
                *(bot.command(texts[i % len(texts)], user=BOB) for i in range(20))
            )
            assert (await bot.rollout(1)).active, "the rollout should still be running"

            assert all(s.status == 200 for s in sent)
            assert max(s.elapsed for s in sent) < ACK_DEADLINE
            await bot.slack.wait_for_async(lambda: len(bot.replies(BOB)) >= 20, 20)
            assert not [e for e in bot.replies(BOB) if GENERIC_FAILURE in e.text]
        assert slow_callbacks() == []


async def test_any_text_after_deploy_is_a_command_or_a_usage_error(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=3) as bot:
        edge = bot.server.app.edge  # type: ignore[attr-defined]
        loop = asyncio.get_running_loop()
        words = st.sampled_from(
            [
                "isp",
                "admin",
                "v1.3.1",
                "batch=5",
                "pilot=2",
                "status",
                "#1",
                "dry-run",
                "tenants=tenant-fast-fiber",
                "wait=5m",
                "at=12:00",
                "waves=double",
                "help",
            ]
        )
        texts = st.one_of(st.text(max_size=300), st.lists(words, max_size=6).map(" ".join))

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(text=texts, command=st.sampled_from(["/deploy", "/rollback"]))
        def property_holds(text: str, command: str) -> None:
            request = SlashRequest(command=command, text=text, user=MALLORY, channel=C)
            future = asyncio.run_coroutine_threadsafe(answer(edge, request), loop)
            reply = future.result(timeout=10)
            assert reply.text and GENERIC_FAILURE not in reply.text

        await asyncio.to_thread(property_holds)


async def test_healthz_and_metrics(tmp_path: Path) -> None:
    # Prometheus is configured for error rates but answers 503: the logs judge instead.
    prometheus = await asyncio.to_thread(PrometheusStandIn().start)
    prometheus.failure = (503, "overloaded")
    config = config_text(approval=False, pilot=1, batch=5) + (
        "health:\n  prometheus:\n"
        f"    url: {prometheus.url}\n"
        '    error_rate_query: errors{namespace="$namespace"}\n'
        "    timeout: 2s\n"
    )
    try:
        async with running_bot(tmp_path, tenants=4, config=config) as bot:
            await bot.deploy("isp v1.3.1")
            assert (await bot.wait(1)).phase is Phase.COMPLETED
            await bot.command("isp v1.3.1", user=MALLORY)
            await bot.reply(MALLORY)

            async with aiohttp.ClientSession() as http:
                async with http.get(f"{bot.base_url}/healthz") as resp:
                    health = json.loads(await resp.text())
                    assert resp.status == 200
                async with http.get(f"{bot.base_url}/metrics") as resp:
                    metrics = await resp.text()
                    assert resp.headers["Content-Type"].startswith("text/plain")

            assert health == {"status": "ok", "mode": "http", "active_rollouts": 0}
            assert 'rollbot_rollouts{phase="completed"} 1' in metrics
            assert "rollbot_tenants_updated_total 4" in metrics
            assert 'rollbot_ack_seconds_count{kind="command"} 2' in metrics
            assert 'rollbot_slack_requests_total{kind="command"} 2' in metrics
            assert "rollbot_up 1" in metrics
            assert 'rollbot_slack_calls_total{operation="chat.postMessage"}' in metrics
            assert 'rollbot_slack_outbox{status="' in metrics
            assert 'rollbot_kubernetes_calls_total{operation="set_image"} 4' in metrics
            # The limits towards the API server, and how they held, as configured
            assert 'rollbot_kubernetes_limit{limit="max_in_flight"} 32' in metrics
            assert 'rollbot_kubernetes_limit{limit="qps"} 100' in metrics
            assert "rollbot_kubernetes_in_flight 0" in metrics
            assert 'rollbot_kubernetes_throttled_total{reason="server"} 0' in metrics
            peak = re.search(r"^rollbot_kubernetes_in_flight_peak (\d+)$", metrics, re.M)
            assert peak is not None and 1 <= int(peak.group(1)) <= 32
    finally:
        await asyncio.to_thread(prometheus.stop)
    asked = len(prometheus.queries) // 2  # each query is tried twice on a 503
    assert asked >= 4  # every tenant's health check asked first
    assert f'rollbot_prometheus_calls_total{{operation="error_rate"}} {asked}' in metrics
    assert f'rollbot_prometheus_errors_total{{operation="error_rate"}} {asked}' in metrics


async def test_serve_answers_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    slack = await asyncio.to_thread(slack_standin)
    sim = await asyncio.to_thread(start_sim, tenants=3, ready_delay=0.02)
    config = tmp_path / "rollbot.yaml"
    await asyncio.to_thread(config.write_text, config_text())
    env = serve_env(slack=slack, sim=sim, config=config, db=tmp_path / "rollbot.db")
    try:
        async with serve_process(env) as served:
            sent = await slack.send_slash_command_async(
                served.events_url, text="help", user_id=ALICE, channel_id=C
            )
            assert sent.status == 200 and sent.elapsed < ACK_DEADLINE
            await slack.wait_for_async(lambda: slack.ephemerals(ALICE), 10)

            assert await served.stop() == 0, served.log
            assert "rollbot stopping" in served.log
    finally:
        await asyncio.to_thread(slack.close)
        await asyncio.to_thread(sim.stop)
