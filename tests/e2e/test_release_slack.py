"""`/release` through Slack: the real Bolt app over signed HTTP from the Slack stand-in,
`rollbot serve`'s own wiring, the tests' Docker engine and registry, real pnpm, the
fixture monorepo and the simulated cluster.

Given the monorepo at v1.3.1, when alice types `/release v1.3.1`, then one checklist
message in the release channel is edited as the steps go, each finished step gets a reply
in its thread, each deploy links its own rollout thread, and the notify channel hears of
the start, the build and the end; a Stop click ends a build within seconds for whoever may
stop it; a failed build puts its last lines and its whole log in the thread; bad words
start nothing; and `rollbot serve` killed mid-build finishes the release when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.release import Releases
from bot.store import SqliteStore
from handlers.slash import SlashRequest, answer
from rollout.actions import Action
from rollout.release import Release, ReleasePhase, StepState
from sim.kube.harness import SimHandle, start_sim
from sim.monorepo import make_monorepo
from sim.slack import SlackHandle
from sim.slack.records import Message
from tests.e2e.release_support import LIMIT, TENANTS, VERSION, config_text, environ_for
from tests.e2e.slack_fixtures import (
    ACK_DEADLINE,
    ALICE,
    BOB,
    MALLORY,
    NOTIFY,
    Bot,
    C,
    running_bot,
    slack_standin,
)
from tests.e2e.slack_story_support import patches, posted, repeated, serve_env, serve_process
from tests.fixtures.engine import Engine, Registry

RELEASE_ENV = ("DOCKER_HOST", "REGISTRY_USERNAME", "REGISTRY_PASSWORD", "CI")


def release_config(tmp_path: Path, engine: Engine, registry: Registry,
                   steps: dict[str, str] | None = None, **repo: Any) -> str:
    """rollbot.yaml for a release of the fixture monorepo, with the Slack channels; `repo`:
    more of make_monorepo's options (a failing check, scripts left out). Bob approves
    every app and may deploy them too."""
    made = make_monorepo(tmp_path / "frontend", version=VERSION, dockerfile_steps=steps or {},
                         **repo)
    data = yaml.safe_load(config_text(made.root, registry, engine, f"s{uuid.uuid4().hex[:8]}"))
    data["slack"] = {"release_channels": [C], "notify_channel": NOTIFY}
    for app in data["apps"].values():
        app["deployers"] = [ALICE, BOB]
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture
def release_env(monkeypatch: pytest.MonkeyPatch, docker_engine: Engine,
                registry: Registry) -> Iterator[dict[str, str]]:
    """The Docker engine and registry credentials, as an operator exports them."""
    env = environ_for(docker_engine, registry)
    for key in RELEASE_ENV:
        monkeypatch.setenv(key, env[key])
    yield {key: env[key] for key in RELEASE_ENV}


@contextlib.asynccontextmanager
async def release_bot(tmp_path: Path, engine: Engine, registry: Registry,
                      steps: dict[str, str] | None = None, **repo: Any) -> AsyncIterator[Bot]:
    text = await asyncio.to_thread(release_config, tmp_path, engine, registry, steps, **repo)
    async with running_bot(tmp_path, tenants=TENANTS, config=text) as bot:
        yield bot


def pipeline(bot: Bot) -> Releases:
    assert bot.server.releases is not None
    return bot.server.releases


async def ended(bot: Bot, release_id: int = 1) -> Release:
    done = await asyncio.to_thread(pipeline(bot).wait, release_id, LIMIT)
    assert done.finished_at is not None, done
    assert bot.server.delivery is not None
    assert await asyncio.to_thread(bot.server.delivery.flush, 30.0)
    return done


def checklist(slack: SlackHandle) -> Message:
    (parent,) = [m for m in slack.messages(C) if "Release R1" in m.versions[0].text]
    return parent


def replies(slack: SlackHandle, parent: Message) -> list[str]:
    return [m.text for m in slack.thread(C, parent.ts)[1:]]


@pytest.mark.usefixtures("release_env")
async def test_a_release_is_one_checklist_with_a_thread_and_notify_lines(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    async with release_bot(tmp_path, docker_engine, registry,
                           without_scripts=("type-check",)) as bot:
        # When alice releases v1.3.1 in the release channel (no package has a type-check)
        sent = await bot.command(VERSION, command="/release")
        assert sent.status == 200 and sent.elapsed < ACK_DEADLINE
        accepted = await bot.reply(ALICE, "accepted")
        assert accepted.text == (f"Release R1 {VERSION} accepted: `/release {VERSION}`. Its "
                                 "checklist follows in this channel.")
        done = await ended(bot)
        # Then it completed, and its checklist message says so, every step ticked
        assert done.phase is ReleasePhase.COMPLETED, done.reason
        parent = checklist(bot.slack)
        assert parent.edited and parent.text.startswith(f"✅ *Release R1 {VERSION}* by <@U0ALICE>")
        assert parent.text.count("✅") == len(done.steps) + 1
        assert not any(b["type"] == "actions" for b in parent.blocks)
        # And its thread has a reply per step, a link to each deploy's thread, the summary
        thread = replies(bot.slack, parent)
        assert sum(" done in " in t for t in thread) == len(done.steps)
        links = [t for t in thread if t.startswith("🚀")]
        assert [t.split(" · ")[0] for t in links] == ["🚀 *Deploy admin* runs as rollout #1",
                                                      "🚀 *Deploy isp* runs as rollout #2"]
        rollout_parents = [m for m in bot.slack.messages(C) if m is not parent]
        for link, rollout in zip(links, rollout_parents, strict=True):
            assert rollout.ts.replace(".", "") in link
        assert thread[-1].startswith(f"✅ *Release R1 {VERSION}* completed in")
        # And the checks ran, the reply naming each one run, and the one skipped
        (checked,) = [t for t in thread if t.startswith("✅ *Run the checks* done in")]
        shared = 'pnpm --filter "./shared/packages/**"'
        assert checked.splitlines()[1:] == [
            f"Ran: `{shared} test`, `{shared} lint`, `pnpm --filter platform-admin-app "
            "build`, `pnpm --filter isp-ops-app build`, `pnpm --filter platform-admin-app "
            "test:e2e`, `pnpm --filter isp-ops-app test:e2e`",
            f"Skipped, as no package they select defines the script: `{shared} type-check`"]
        assert thread.index(checked) < min(thread.index(t) for t in thread
                                           if t.startswith("✅ *Build the admin image*"))
        # And the stakeholders heard it started, was built and completed
        heard = [m.text for m in bot.slack.messages(NOTIFY) if "Release R1" in m.text]
        assert [line.split(" ")[0] for line in heard] == ["📦", "🏗️", "✅"]
        assert all("|thread>" in line for line in heard)
        assert repeated(posted(bot.slack, C)) == []


@pytest.mark.usefixtures("release_env")
async def test_stop_ends_the_build_within_seconds_for_whoever_may_stop_it(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    steps = {"isp": "sleep 60"}
    async with release_bot(tmp_path, docker_engine, registry, steps) as bot:
        await bot.command(VERSION, command="/release")
        await bot.reply(ALICE, "accepted")
        await asyncio.to_thread(_until_building, pipeline(bot))
        parent = await bot.slack.wait_for_message_async(C, "Release R1", timeout=LIMIT)
        stop = Action.STOP_RELEASE.button_id
        # When mallory clicks Stop, then bob
        await bot.click(stop, ts=parent.ts, user=MALLORY, value="1")
        refused = await bot.reply(MALLORY, "🚫")
        asked = time.monotonic()
        await bot.click(stop, ts=parent.ts, user=BOB, value="1")
        taken = await bot.reply(BOB, "Stop of R1")
        done = await ended(bot)
        # Then mallory is told why not, and bob's stop ends the build within 5 s
        assert "You may not stop R1" in refused.text
        assert taken.text.startswith("Stop of R1 requested by <@U0BOB>")
        assert time.monotonic() - asked < 5 + 1
        assert (done.phase, done.stopped_by) == (ReleasePhase.CANCELLED, BOB)
        assert done.step("push:admin").state is StepState.SKIPPED
        shown = checklist(bot.slack)
        assert "*Stopped by <@U0BOB>*" in shown.text
        assert not any(b["type"] == "actions" for b in shown.blocks)
        heard = [m.text for m in bot.slack.messages(NOTIFY) if "Release R1" in m.text]
        assert heard[-1].startswith(f"🚫 Release R1 {VERSION} was stopped by <@U0BOB>")


def _until_building(releases: Releases) -> None:
    deadline = time.monotonic() + LIMIT
    while releases.status(1).step("image:isp").state is not StepState.RUNNING:
        assert time.monotonic() < deadline, "isp's image never started building"
        time.sleep(0.1)  # the journal has no event to wait on
    time.sleep(1.0)  # into the build's slow step


@pytest.mark.usefixtures("release_env")
async def test_a_failed_build_puts_its_tail_and_its_whole_log_in_the_thread(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    steps = {"isp": "echo broken >&2; exit 7"}
    async with release_bot(tmp_path, docker_engine, registry, steps) as bot:
        await bot.command(VERSION, command="/release")
        done = await ended(bot)
        assert done.phase is ReleasePhase.FAILED
        thread = replies(bot.slack, checklist(bot.slack))
        tail = next(t for t in thread if t.startswith("Last "))
        assert "ERROR: The command '/bin/sh -c echo broken &gt;&amp;2; exit 7'" in tail
        assert "\x1b" not in tail and "\n\n" not in tail
        (log,) = bot.slack.files()
        whole = await asyncio.to_thread(Path(done.step("image:isp").log_path).read_bytes)
        assert log.content == whole
        assert (log.name, log.thread_ts) == ("R1-image-isp.log", checklist(bot.slack).ts)
        assert thread[-1].splitlines()[1:] == ["Nothing was pushed.", "Nothing was deployed."]


@pytest.mark.usefixtures("release_env")
async def test_bad_words_and_refusals_start_nothing(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    async with release_bot(tmp_path, docker_engine, registry) as bot:
        for text in ("1.3", f"{VERSION} apps=nope", f"{VERSION} ref=", "cancel"):
            sent = await bot.command(text, command="/release")
            assert sent.status == 200 and sent.elapsed < ACK_DEADLINE
            reply = await bot.reply(ALICE, "Usage: /release", after=len(bot.replies(ALICE)) - 1)
            assert "/release <version>" in reply.text
        await bot.command(VERSION, command="/release", user=MALLORY)
        refused = await bot.reply(MALLORY, "🚫")
        assert "not a deployer of admin" in refused.text
        await bot.command("status", command="/release")
        assert (await bot.reply(ALICE, "No releases yet.")).text == "No releases yet."
        audit = await asyncio.to_thread(bot.runtime.store.audit_log)
        assert ("U0MALLORY", f"/release {VERSION}", "refused") in [
            (e.user, e.action, e.outcome) for e in audit]
        assert pipeline(bot).list_releases() == []
        assert bot.slack.messages(C) == []


@pytest.mark.usefixtures("release_env")
async def test_any_text_after_release_is_a_command_or_a_usage_error(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    async with release_bot(tmp_path, docker_engine, registry) as bot:
        edge = bot.server.app.edge  # type: ignore[attr-defined]
        loop = asyncio.get_running_loop()
        words = st.sampled_from([VERSION, "v1.3", "1.3", "apps=isp", "apps=nope", "ref=",
                                 "ref=main", "build-only", "dry-run", "batch=2", "status",
                                 "list", "cancel", "R1", "help", "wait=5m"])
        texts = st.one_of(st.text(max_size=200), st.lists(words, max_size=5).map(" ".join))

        @settings(max_examples=60, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(text=texts)
        def property_holds(text: str) -> None:
            request = SlashRequest(command="/release", text=text, user=MALLORY, channel=C)
            reply = asyncio.run_coroutine_threadsafe(answer(edge, request), loop).result(10)
            assert reply.text and "Something went wrong" not in reply.text

        await asyncio.to_thread(property_holds)
        assert pipeline(bot).list_releases() == []


async def test_serve_killed_during_the_build_finishes_the_release_when_back(
    tmp_path: Path, docker_engine: Engine, registry: Registry, release_env: dict[str, str]
) -> None:
    """Given `rollbot serve` building the images of alice's release, when it is killed
    with SIGKILL and started again, then the release finishes: each image pushed once,
    each tenant changed once, and the checklist it posted is the one it edits to the end."""
    slack = await asyncio.to_thread(slack_standin)
    sim = await asyncio.to_thread(start_sim, tenants=TENANTS, ready_delay=0.02)
    config = tmp_path / "rollbot.yaml"
    text = await asyncio.to_thread(release_config, tmp_path, docker_engine, registry,
                                   {"isp": "sleep 3"})
    await asyncio.to_thread(config.write_text, text)
    db = tmp_path / "rollbot.db"
    env = {**serve_env(slack=slack, sim=sim, config=config, db=db), **release_env}
    try:
        async with serve_process(env) as first:
            await slack.send_slash_command_async(first.events_url, text=VERSION, user_id=ALICE,
                                                 channel_id=C, command="/release")
            await asyncio.to_thread(_until_journal_building, db)
            assert await first.kill() == -9
        async with serve_process(env) as second:
            await slack.wait_for_message_async(NOTIFY, f"Release R1 {VERSION} completed",
                                               timeout=LIMIT)
            assert await second.stop() == 0, second.log
        await _check_finished_once(db, slack, sim)
    finally:
        await asyncio.to_thread(slack.close)
        await asyncio.to_thread(sim.stop)


def _until_journal_building(db: Path) -> None:
    deadline = time.monotonic() + LIMIT
    with SqliteStore(db) as store:
        while True:
            found = store.releases.get_release(1)
            if found is not None and found.step("image:isp").state is StepState.RUNNING:
                return
            assert time.monotonic() < deadline, "the image build never started"
            time.sleep(0.1)  # another process writes the journal: nothing to wait on


async def _check_finished_once(db: Path, slack: SlackHandle, sim: SimHandle) -> None:
    with SqliteStore(db) as store:
        done = store.releases.get_release(1)
    assert done is not None and done.phase is ReleasePhase.COMPLETED, done
    assert done.step("image:isp").attempts == 2
    assert [done.step(f"push:{app}").attempts for app in ("admin", "isp")] == [1, 1]
    per_namespace = await asyncio.to_thread(patches, sim)
    tenants = {ns: n for ns, n in per_namespace.items() if ns.startswith("tenant-")}
    assert len(tenants) == TENANTS and set(tenants.values()) == {1}
    parent = checklist(slack)
    assert parent.text.startswith(f"✅ *Release R1 {VERSION}*")
    assert repeated(posted(slack, C)) == [], slack.transcript(C)


@pytest.mark.usefixtures("release_env")
async def test_a_failing_check_puts_its_tail_and_log_in_the_thread_and_builds_nothing(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    async with release_bot(tmp_path, docker_engine, registry,
                           failing_check=("ui", "lint")) as bot:
        # When alice releases a version whose ui package fails its lint
        await bot.command(VERSION, command="/release")
        done = await ended(bot)
        # Then it failed at the checks, and no image of the version was built or pushed
        assert done.phase is ReleasePhase.FAILED
        assert done.step("checks").state is StepState.FAILED
        assert all(s.state is StepState.SKIPPED for s in done.steps if s.kind == "image")
        apps = yaml.safe_load(bot.config)["apps"]
        images = {name: app["image"] for name, app in apps.items()}
        with docker_engine.client() as api:
            built = [api.images(name=f"{images[app]}:{VERSION}") for app in done.apps]
        assert built == [[], []]
        # And the thread names the check, shows its last 30 lines, and has its whole log
        parent = checklist(bot.slack)
        assert ('❌ *Run the checks* · failed after' in parent.text
                and '`pnpm --filter "./shared/packages/**" lint` exited with status 1'
                in parent.text)
        thread = replies(bot.slack, parent)
        tail = next(t for t in thread if t.startswith("Last "))
        head = tail.splitlines()[0]  # 30 lines, less any Slack's section limit leaves out
        assert head.startswith("Last ") and head.endswith(" lines of *Run the checks*:")
        assert 20 <= int(head.split()[1]) <= 30
        assert "✖ 40 problems (40 errors, 0 warnings) in @dotmac/ui lint" in tail
        (log,) = bot.slack.files()
        whole = await asyncio.to_thread(Path(done.step("checks").log_path).read_bytes)
        assert log.content == whole and b"unused1'" in whole
        assert (log.name, log.thread_ts) == ("R1-checks.log", parent.ts)
        assert thread[-1].splitlines()[1:] == ["Nothing was pushed.", "Nothing was deployed."]
        heard = [m.text for m in bot.slack.messages(NOTIFY) if "Release R1" in m.text]
        assert heard[-1].startswith(f"❌ Release R1 {VERSION} failed at Run the checks")


@pytest.mark.usefixtures("release_env")
async def test_skip_checks_is_for_approvers_of_every_app_and_says_who_skipped_them(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    async with release_bot(tmp_path, docker_engine, registry,
                           failing_check=("ui", "lint")) as bot:
        # When alice, a deployer but no approver, asks to skip the failing checks
        await bot.command(f"{VERSION} build-only skip-checks", command="/release")
        refused = await bot.reply(ALICE, "🚫")
        # Then she is told why not, and nothing starts
        assert "Skip-checks is only for approvers of every app in the release" in refused.text
        assert "(approvers: <@U0BOB>)" in refused.text
        assert pipeline(bot).list_releases() == [] and bot.slack.messages(C) == []
        # When bob, who approves every app, asks for the same
        await bot.command(f"{VERSION} build-only skip-checks", command="/release", user=BOB)
        await bot.reply(BOB, "accepted")
        done = await ended(bot)
        # Then it is built without the checks, and the checklist and summary say so
        assert done.phase is ReleasePhase.COMPLETED, done.reason
        assert (done.skip_checks, done.step("checks").state) == (True, StepState.SKIPPED)
        assert done.step("checks").log_path == ""
        parent = checklist(bot.slack)
        assert parent.text.splitlines()[0].endswith("· checks skipped (skip-checks)")
        assert ("⏭️ Run the checks · skipped — checks skipped by <@U0BOB> (skip-checks)"
                in parent.text)
        summary = replies(bot.slack, parent)[-1].splitlines()
        assert summary[1] == "Checks skipped by <@U0BOB> (skip-checks)."
        audit = [(e.user, e.action, e.outcome, e.detail)
                 for e in await asyncio.to_thread(bot.runtime.store.audit_log)]
        assert (ALICE, f"/release {VERSION} build-only skip-checks", "refused") in [
            a[:3] for a in audit]
        assert (BOB, f"release {VERSION}", "ok", "R1; checks skipped (skip-checks)") in audit
