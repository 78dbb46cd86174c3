"""The engine against in-memory ports: a fake cluster, the in-memory journal, timers fired
by hand and a clock that moves only when told. No sleeps: tests wait on `join()`.

Given / When / Then, one behaviour per test; the simulator-backed versions of the big
stories are the other files here. The journal is bot's MemoryStore (the store contract
holds it to the SQLite one), which is why these tests are not in tests/unit; the fake
cluster and the hand-fired timers are held to the cluster and scheduler contracts.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from bot.memstore import MemoryStore
from rollout.engine import Driving, Engine, EnginePorts
from rollout.errors import EngineStopped, InvalidTransition, RolloutConflict, RolloutRefused
from rollout.model import (
    AppSpec,
    EventKind,
    HealthSpec,
    InboxItem,
    Phase,
    Rollout,
    RolloutEvent,
    Settings,
    Strategy,
    TargetStatus,
)
from rollout.options import RolloutOptions
from rollout.plan import PlanError
from rollout.ports import Listener
from tests.fake_cluster import ADMIN_IMAGE, ISP_IMAGE, FakeCluster
from tests.fakes import WAIT_LIMIT, FakeClock, ManualTimers, PatchGate, RecordingListener

OLD = f"{ISP_IMAGE}:v1.2.3"
NEW = f"{ISP_IMAGE}:v1.3.0"
ROLLING = Settings(
    batch_size=3,
    wait_seconds=60,
    pilot_count=2,
    pilot_monitor_seconds=10,
    approval=True,
    four_eyes=True,
    approval_timeout_seconds=3600,
)
ISP = AppSpec(
    name="isp",
    strategy=Strategy.ROLLING,
    image=ISP_IMAGE,
    deployment="isp-ops-app",
    container="frontend",
    settings=ROLLING,
)
ADMIN = AppSpec(
    name="admin",
    strategy=Strategy.BLUE_GREEN,
    image=ADMIN_IMAGE,
    deployment="platform-admin-app",
    container="frontend",
    settings=Settings(approval=False, monitor_seconds=10, remove_old_after_seconds=60),
    namespace="platform-admin",
    service="platform-admin-app",
    config_map="platform-admin-config",
)


class FakeRegistry:
    def __init__(self, *tags: str) -> None:
        self.tags = set(tags)

    def image_exists(self, image: str, tag: str) -> bool:
        return tag in self.tags


class Rig:
    """One engine and its ports; `engine()` makes another on the same journal and cluster,
    as a restarted process would."""

    def __init__(self, *, tenants: int = 11, **settings: Any) -> None:
        self.cluster = FakeCluster(tenants=tenants)
        self.cluster.add_blue_green()
        self.store = MemoryStore()
        self.clock = FakeClock()
        self.listener = RecordingListener()
        self.apps = {"isp": replace(ISP, settings=replace(ROLLING, **settings)), "admin": ADMIN}
        self.engines: list[Engine] = []
        self.registry: FakeRegistry | None = None
        self.timers = ManualTimers()
        self.main = self.engine()

    def engine(
        self,
        *,
        listeners: Sequence[Listener] | None = None,
        claim: Callable[[int], bool] | None = None,
        poll_inbox_every: float | None = None,
    ) -> Engine:
        """`listeners`: the rig's recorder unless given; `claim` and `poll_inbox_every` go
        to the Engine as they are."""
        self.timers = ManualTimers()  # timers die with their process
        engine = Engine(
            apps=self.apps,
            health=HealthSpec(),
            ports=EnginePorts(
                cluster=self.cluster,
                store=self.store,
                timers=self.timers,
                clock=self.clock,
                registry=self.registry,
            ),
            listeners=[self.listener] if listeners is None else listeners,
            driving=Driving(max_parallel=4, claim=claim, poll_inbox_every=poll_inbox_every),
        )
        self.engines.append(engine)
        return engine

    def start(self, app: str = "isp", version: str = "v1.3.0", **options: Any) -> Rollout:
        rollout = self.main.start(
            app=app, version=version, options=RolloutOptions(**options), user="U0ALICE"
        )
        self.main.join(WAIT_LIMIT)
        return self.get(rollout.id)

    def get(self, rollout_id: int) -> Rollout:
        found = self.store.get(rollout_id)
        assert found is not None
        return found

    def ask(self, rollout_id: int, action: str, user: str = "U0BOB", **kw: Any) -> Rollout:
        item = InboxItem(rollout_id, action, user, self.clock.now(), **kw)
        self.main.submit(item)
        self.main.join(WAIT_LIMIT)
        return self.get(rollout_id)

    def run_timers(self, rollout_id: int, until: Callable[[Rollout], bool]) -> Rollout:
        """Move the clock to each armed timer in turn, firing it, until `until` holds."""
        for _ in range(1000):
            self.main.join(WAIT_LIMIT)
            rollout = self.get(rollout_id)
            if until(rollout):
                return rollout
            assert self.timers.fire_next(self.clock), f"nothing armed in {rollout.phase}"
        raise AssertionError("too many timers")

    def close(self) -> None:
        for engine in self.engines:
            engine.shutdown()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


def at_phase(*phases: Phase) -> Callable[[Rollout], bool]:
    return lambda r: r.phase in phases


def images(rig: Rig) -> set[str]:
    return {
        rig.cluster.image(ns)
        for ns in rig.cluster.list_namespaces("app.kubernetes.io/component=tenant")
    }


# --- a rolling rollout from start to end -------------------------------------------------


def test_rolling_rollout_updates_pilots_first_then_batches_each_once(rig: Rig) -> None:
    rollout = rig.start()
    assert rollout.phase is Phase.MONITORING
    pilots = [t.namespace for t in rollout.batch(0)]
    assert [rig.cluster.image(ns) for ns in pilots] == [NEW, NEW]
    assert all(t.previous_image == OLD for t in rollout.targets)

    rollout = rig.run_timers(rollout.id, at_phase(Phase.AWAITING_APPROVAL))
    rollout = rig.ask(rollout.id, "approve")
    rollout = rig.run_timers(rollout.id, lambda r: r.phase.terminal)

    assert rollout.phase is Phase.COMPLETED
    assert images(rig) == {NEW}
    assert set(rig.cluster.patches.values()) == {1}
    patched = [ns for method, ns in rig.cluster.calls if method == "set_image"]
    assert patched[:2] == pilots
    assert patched == [t.namespace for t in rollout.targets]  # plan order
    kinds = rig.listener.kinds(rollout.id)
    assert kinds.count(EventKind.BATCH_DONE) == 1 + rollout.batch_count
    assert kinds[-1] is EventKind.COMPLETED
    audit = [(a.action, a.outcome) for a in rig.store.audit_log(rollout_id=rollout.id)]
    assert ("approve", "ok") in audit and ("deploy isp v1.3.0", "ok") in audit


def test_wait_returns_at_the_gate_and_again_when_finished(rig: Rig) -> None:
    rollout = rig.start(pilot_count=0)
    assert rig.main.wait(rollout.id, timeout=WAIT_LIMIT).phase is Phase.AWAITING_APPROVAL
    approving = threading.Thread(target=rig.ask, args=(rollout.id, "approve"))
    approving.start()
    settled = rig.main.wait(
        rollout.id, WAIT_LIMIT, until=lambda r: r.phase is not Phase.AWAITING_APPROVAL
    )
    approving.join(WAIT_LIMIT)
    assert settled.phase in {Phase.BATCH, Phase.WAITING}


def test_preflight_reports_every_problem_at_once_and_changes_nothing() -> None:
    rig = Rig()
    rig.registry = FakeRegistry("v1.2.3")
    rig.main = rig.engine()
    del rig.cluster.deployments[("tenant-003", "isp-ops-app")]
    rig.cluster.deny_access(namespace="tenant-005", verb="patch", resource="deployments")
    try:
        rollout = rig.start()
        assert rollout.phase is Phase.FAILED
        (refused,) = rig.listener.of(EventKind.REFUSED)
        assert len(refused.problems) == 3
        text = " ".join(refused.problems)
        assert "not in the registry" in text
        assert "tenant-003: there is no deployment isp-ops-app" in text
        assert "tenant-005: rollbot may not patch deployments" in text
        assert rig.cluster.count("set_image") == 0
        outcomes = [a.outcome for a in rig.store.audit_log(rollout_id=rollout.id)]
        assert outcomes == ["refused", "ok"] or sorted(outcomes) == ["ok", "refused"]
    finally:
        rig.close()


def test_unknown_tenants_are_refused_before_anything_is_created(rig: Rig) -> None:
    with pytest.raises(PlanError, match="tenant-zzz"):
        rig.start(tenants=("tenant-001", "tenant-zzz"))
    assert rig.store.list_rollouts() == []
    assert rig.store.audit_log()[0].outcome == "refused"


def test_a_second_rollout_of_the_same_app_is_refused(rig: Rig) -> None:
    first = rig.start()
    with pytest.raises(RolloutConflict) as conflict:
        rig.start(version="v1.3.1")
    assert conflict.value.active_id == first.id


def test_plan_and_preview_change_nothing(rig: Rig) -> None:
    plan, estimate = rig.main.plan("isp", "v1.3.0", RolloutOptions())
    preview = rig.main.preview("isp", "v1.3.0", RolloutOptions(), plan)
    assert len(plan.pilots) == 2 and plan.batch_count == 3
    assert preview.id == 0 and len(preview.targets) == 11
    assert estimate.awaits_approval
    assert rig.store.list_rollouts() == [] and rig.cluster.count("set_image") == 0


# --- failures ----------------------------------------------------------------------------


def failing(rig: Rig, namespace: str) -> None:
    """Make `namespace` crash on the new version (as the simulator's behaviour rules do)."""
    rig.cluster.set_behaviour(namespace, "v1.3.0", "crash")


def test_a_failed_tenant_pauses_the_rollout_with_the_reason() -> None:
    rig = Rig(approval=False, pilot_count=0, wait_seconds=0)
    failing(rig, "tenant-004")
    try:
        rollout = rig.start()
        assert rollout.phase is Phase.PAUSED
        assert rollout.paused_from is Phase.BATCH and rollout.current_batch == 2
        failed = rollout.target("tenant-004")
        assert failed.status is TargetStatus.FAILED
        assert failed.reason.startswith("rollout stopped early: pod isp-ops-app-0: CrashLoop")
        assert "tenant-004" in rollout.reason
        assert rig.cluster.image("tenant-006") == OLD  # nothing after the failed batch

        rollout = rig.ask(rollout.id, "skip")
        assert rollout.phase is Phase.COMPLETED
        assert rollout.target("tenant-004").status is TargetStatus.SKIPPED
    finally:
        rig.close()


def test_retry_then_roll_back_all_returns_every_changed_tenant() -> None:
    rig = Rig(approval=False, pilot_count=0, wait_seconds=0)
    failing(rig, "tenant-001")
    try:
        rollout = rig.start()
        with pytest.raises(InvalidTransition, match="Retry failed or Skip"):
            rig.ask(rollout.id, "resume")
        rollout = rig.ask(rollout.id, "retry")
        assert rollout.phase is Phase.PAUSED
        assert rollout.target("tenant-001").attempts == 2
        rollout = rig.ask(rollout.id, "rollback")
        assert rollout.phase is Phase.ROLLED_BACK
        assert images(rig) == {OLD}
        assert rollout.target("tenant-001").status is TargetStatus.ROLLED_BACK
    finally:
        rig.close()


def test_auto_rollback_returns_changed_tenants_without_asking() -> None:
    rig = Rig(
        approval=False, pilot_count=1, pilot_monitor_seconds=0, wait_seconds=0, auto_rollback=True
    )
    failing(rig, "tenant-005")
    try:
        rollout = rig.start()
        assert rollout.phase is Phase.ROLLED_BACK
        assert "rolled back automatically" in rollout.reason
        assert images(rig) == {OLD}
        kinds = rig.listener.kinds(rollout.id)
        assert kinds.index(EventKind.FAILED) < kinds.index(EventKind.ROLLED_BACK)
    finally:
        rig.close()


def test_roll_back_a_completed_rollout_then_an_older_one_is_blocked_by_a_newer() -> None:
    rig = Rig(approval=False, pilot_count=0, wait_seconds=0)
    try:
        first = rig.start()
        second = rig.start(version="v1.4.0")
        assert second.phase is Phase.COMPLETED
        with pytest.raises(InvalidTransition, match=f"#{second.id} changed"):
            rig.ask(first.id, "rollback")
        rolled = rig.ask(second.id, "rollback", tenants=("tenant-002",))
        assert rolled.phase is Phase.ROLLED_BACK
        assert rig.cluster.image("tenant-002") == NEW  # back to what #1 left there
        assert rig.cluster.image("tenant-003") == f"{ISP_IMAGE}:v1.4.0"
    finally:
        rig.close()


def test_refusals_say_why_and_are_audited(rig: Rig) -> None:
    rollout = rig.start(pilot_count=0)
    with pytest.raises(InvalidTransition, match="four-eyes"):
        rig.ask(rollout.id, "approve", user="U0ALICE")
    with pytest.raises(InvalidTransition, match="does not know the action 'dance'"):
        rig.ask(rollout.id, "dance")
    refused = [a for a in rig.store.audit_log(rollout_id=rollout.id) if a.outcome == "refused"]
    assert {a.action for a in refused} == {"approve", "dance"}


def test_cancel_mid_batch_lets_in_flight_updates_settle_and_changes_nothing_more() -> None:
    rig = Rig(approval=False, pilot_count=0, wait_seconds=0)
    gate = PatchGate(allow=1, die=False)
    rig.cluster.before_patch = gate
    try:
        rollout = rig.main.start(app="isp", version="v1.3.0", options=RolloutOptions(), user="U0A")
        assert gate.reached.wait(WAIT_LIMIT)
        rig.main.submit(InboxItem(rollout.id, "cancel", "U0ALICE", rig.clock.now()))
        assert rig.get(rollout.id).phase is Phase.BATCH  # still settling
        gate.release.set()
        rig.main.join(WAIT_LIMIT)
        rollout = rig.get(rollout.id)
        assert rollout.phase is Phase.CANCELLED
        assert {t.status for t in rollout.batch(1)} == {TargetStatus.UPDATED}
        assert all(t.status is TargetStatus.PENDING for t in rollout.targets if t.batch > 1)
        assert rig.cluster.count("set_image") == 3
    finally:
        gate.release.set()
        rig.close()


# --- another process -------------------------------------------------------------------------


def test_requests_from_another_process_go_through_the_journal(rig: Rig) -> None:
    rollout = rig.start()
    other = rig.engine()  # same journal: a second `rollbot` process
    other.submit(InboxItem(rollout.id, "pause", "U0BOB", rig.clock.now()))
    assert rig.get(rollout.id).phase is Phase.MONITORING  # queued, not applied by `other`
    rig.main.poll_inbox()
    rig.main.join(WAIT_LIMIT)
    paused = rig.get(rollout.id)
    assert paused.phase is Phase.PAUSED and paused.reason == "paused by U0BOB"
    with pytest.raises(InvalidTransition, match="already paused"):
        other.check(InboxItem(rollout.id, "pause", "U0BOB", rig.clock.now()))


# --- crash safety ----------------------------------------------------------------------------


def crash(rig: Rig, gate: PatchGate | None = None) -> Engine:
    """Stop the engine the way a SIGKILL would, and start a new one on the same journal."""
    rig.main.shutdown(wait=False)
    if gate is not None:
        gate.release.set()
    rig.main.shutdown()
    rig.cluster.before_patch = None
    rig.main = rig.engine()
    return rig.main


CrashedMidBatch = tuple[Rig, Rollout, Engine]


@pytest.fixture
def crashed_mid_batch() -> Iterator[CrashedMidBatch]:
    """A rig whose engine died in batch 1 once the pilot and two of batch 1's three tenants
    were patched: the rig, the rollout as started, and the engine started in its place,
    which has resumed nothing yet."""
    rig = Rig(approval=False, pilot_count=1, pilot_monitor_seconds=0, wait_seconds=0)
    gate = PatchGate(allow=3)
    rig.cluster.before_patch = gate
    try:
        rollout = rig.main.start(app="isp", version="v1.3.0", options=RolloutOptions(), user="U0A")
        assert gate.reached.wait(WAIT_LIMIT)
        yield rig, rollout, crash(rig, gate)
    finally:
        gate.release.set()
        rig.close()


def test_resume_after_a_crash_mid_batch_skips_no_one_and_patches_no_one_twice(
    crashed_mid_batch: CrashedMidBatch,
) -> None:
    rig, rollout, engine = crashed_mid_batch
    stored = rig.get(rollout.id)
    assert stored.phase is Phase.BATCH
    assert {t.status for t in stored.batch(1)} == {TargetStatus.UPDATING}

    (resumed,) = engine.resume_unfinished()
    engine.join(WAIT_LIMIT)
    final = rig.get(resumed.id)
    assert final.phase is Phase.COMPLETED
    assert images(rig) == {NEW}
    assert set(rig.cluster.patches.values()) == {1}
    assert len(rig.cluster.patches) == 11


def test_each_tenant_is_read_once_when_nothing_interrupts_the_rollout() -> None:
    rig = Rig(approval=False, pilot_count=1, pilot_monitor_seconds=0, wait_seconds=0)
    try:
        rollout = rig.start()
        rollout = rig.run_timers(rollout.id, lambda r: r.phase.terminal)
        assert rollout.phase is Phase.COMPLETED
        tenants = [t.namespace for t in rollout.targets]
        assert reads(rig) == dict.fromkeys(tenants, 1)  # preflight's read serves the update
        assert set(rig.cluster.patches.values()) == {1} and len(rig.cluster.patches) == 11
        assert rig.cluster.count("health_snapshot") >= len(tenants)
    finally:
        rig.close()


def test_a_restarted_engine_reads_every_tenant_again_before_patching_it(
    crashed_mid_batch: CrashedMidBatch,
) -> None:
    rig, rollout, engine = crashed_mid_batch
    (pilot,) = [t.namespace for t in rig.get(rollout.id).batch(0)]

    engine.resume_unfinished()
    engine.join(WAIT_LIMIT)

    assert rig.get(rollout.id).phase is Phase.COMPLETED
    others = [t.namespace for t in rollout.targets if t.namespace != pilot]
    assert reads(rig) == {pilot: 1} | dict.fromkeys(others, 2)
    assert set(rig.cluster.patches.values()) == {1} and len(rig.cluster.patches) == 11


def reads(rig: Rig) -> dict[str, int]:
    """How often each tenant's deployment was read."""
    found: dict[str, int] = {}
    for method, namespace in rig.cluster.calls:
        if method == "read_deployment":
            found[namespace] = found.get(namespace, 0) + 1
    return found


def test_resume_after_a_crash_at_the_gate_rearms_the_expiry(rig: Rig) -> None:
    rollout = rig.run_timers(rig.start().id, at_phase(Phase.AWAITING_APPROVAL))
    engine = crash(rig)
    assert rig.timers.armed() == {}
    assert engine.resume_unfinished() == [rollout]
    engine.join(WAIT_LIMIT)
    assert list(rig.timers.armed().values()) == [rollout.deadline]
    rig.clock.set(rollout.deadline)  # type: ignore[arg-type]
    rig.timers.fire_due(rig.clock.now())
    engine.join(WAIT_LIMIT)
    assert rig.get(rollout.id).phase is Phase.EXPIRED
    assert rig.listener.kinds(rollout.id)[-1] is EventKind.EXPIRED


def test_resume_mid_roll_back_finishes_it_once() -> None:
    rig = Rig(approval=False, pilot_count=0, wait_seconds=0)
    try:
        done = rig.start()
        gate = PatchGate(allow=2)
        rig.cluster.before_patch = gate
        rig.main.submit(InboxItem(done.id, "rollback", "U0A", rig.clock.now()))
        assert gate.reached.wait(WAIT_LIMIT)
        engine = crash(rig, gate)
        assert rig.get(done.id).phase is Phase.ROLLING_BACK
        engine.resume_unfinished(done.id)
        engine.join(WAIT_LIMIT)
        assert rig.get(done.id).phase is Phase.ROLLED_BACK
        assert images(rig) == {OLD}
        assert set(rig.cluster.patches.values()) == {2}  # there and back, once each
    finally:
        rig.close()


def test_after_shutdown_requests_are_refused(rig: Rig) -> None:
    rollout = rig.start()
    rig.main.shutdown()
    with pytest.raises(EngineStopped):
        rig.main.submit(InboxItem(rollout.id, "pause", "U0A", rig.clock.now()))


# --- scheduling ----------------------------------------------------------------------------


def test_a_scheduled_rollout_starts_at_its_time(rig: Rig) -> None:
    later = rig.clock.now().replace(hour=14)
    rollout = rig.start(at=later)
    assert rollout.phase is Phase.SCHEDULED
    assert list(rig.timers.armed().values()) == [later]
    assert rig.cluster.count("set_image") == 0
    rollout = rig.run_timers(rollout.id, at_phase(Phase.MONITORING))
    assert rig.clock.now() == later


def test_the_apps_crashloop_threshold_reaches_every_rollout_wait() -> None:
    rig = Rig(crashloop_restarts=7)
    try:
        rig.start()
        seen = rig.cluster.fail_fast_seen
        assert seen and all(f is not None and f.crashloop_restarts == 7 for f in seen)
    finally:
        rig.close()


# --- blue-green ------------------------------------------------------------------------------


def test_blue_green_switches_then_removes_the_old_side(rig: Rig) -> None:
    rollout = rig.start(app="admin")
    assert rollout.phase is Phase.MONITORING
    assert rig.cluster.services[("platform-admin", "platform-admin-app")] == "v1.3.0"
    rollout = rig.run_timers(
        rollout.id, lambda r: r.blue_green is not None and r.blue_green.old_removed
    )
    assert rollout.phase is Phase.COMPLETED
    assert ("platform-admin", "platform-admin-app") not in rig.cluster.deployments
    assert ("platform-admin", "platform-admin-app-v1-3-0") in rig.cluster.deployments
    assert ("platform-admin", "platform-admin-config-v1.2.3") not in rig.cluster.config_maps
    assert EventKind.OLD_REMOVED in rig.listener.kinds(rollout.id)


def test_blue_green_failing_side_is_deleted_and_traffic_stays(rig: Rig) -> None:
    rollout = rig.start(app="admin", version="v1.3.0-unhealthy")
    assert rollout.phase is Phase.ROLLED_BACK
    assert rig.cluster.services[("platform-admin", "platform-admin-app")] == "v1.2.3"
    assert ("platform-admin", "platform-admin-app-v1-3-0-unhealthy") not in rig.cluster.deployments
    assert "/api/health answered 500" in rollout.reason


def test_rollback_app_to_a_version_deploys_it_at_once() -> None:
    rig = Rig(approval=False, pilot_count=0, wait_seconds=0)
    try:
        rig.start()
        undo = rig.main.rollback_app(app="isp", to_version="v1.2.3", tenants=None, user="U0A")
        rig.main.join(WAIT_LIMIT)
        undone = rig.get(undo.id)
        assert undone.phase is Phase.COMPLETED and undone.batch_count == 1
        assert images(rig) == {OLD}
        again = rig.main.rollback_app(app="isp", to_version=None, tenants=None, user="U0A")
        rig.main.join(WAIT_LIMIT)
        assert rig.get(again.id).phase is Phase.ROLLED_BACK and images(rig) == {NEW}
    finally:
        rig.close()


def test_rollback_app_refuses_while_a_rollout_is_active(rig: Rig) -> None:
    active = rig.start()
    with pytest.raises(RolloutConflict):
        rig.main.rollback_app(app="isp", to_version=None, tenants=None, user="U0A")
    with pytest.raises(RolloutRefused, match="no app 'nope'"):
        rig.main.rollback_app(app="nope", to_version=None, tenants=None, user="U0A")
    assert rig.get(active.id).phase is Phase.MONITORING


def test_a_broken_listener_does_not_stop_the_rollout() -> None:
    class Broken:
        def publish(self, event: object) -> None:
            raise RuntimeError("slack is down")

    rig = Rig(approval=False, pilot_count=0, wait_seconds=0)
    rig.main.shutdown()
    rig.engines.clear()
    rig.main = rig.engine(listeners=[Broken(), rig.listener])
    try:
        assert rig.start().phase is Phase.COMPLETED
    finally:
        rig.close()


# --- a journal that fails for a moment -------------------------------------------------------


class FlakyStore(MemoryStore):
    """Fails the next saves: "before" writing nothing, or "after" having written."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[str] = []

    def save(self, rollout: Rollout) -> Rollout:
        how = self.failures.pop(0) if self.failures else ""
        if how == "before":
            raise sqlite3.OperationalError("database is locked")
        saved = super().save(rollout)
        if how == "after":
            raise sqlite3.OperationalError("disk I/O error after commit")
        return saved


@pytest.mark.parametrize("how", ["before", "after"])
def test_a_save_that_fails_once_loses_no_step(how: str) -> None:
    rig = Rig(approval=False, pilot_count=0, wait_seconds=0)
    rig.store = FlakyStore()
    rig.main = rig.engine()
    try:
        rig.store.failures = ["", "", how, how]  # preflight done, batch 1 started: then trouble
        rollout = rig.start()
        assert rig.store.failures == []  # both failures happened
        assert rollout.phase is Phase.COMPLETED, rollout.reason
        assert images(rig) == {NEW}
        assert set(rig.cluster.patches.values()) == {1}
    finally:
        rig.close()


def test_a_rollout_another_process_claims_is_left_to_it(rig: Rig) -> None:
    # Given a rollout at its gate, and a restarted engine whose lease on it is refused
    rollout = rig.run_timers(rig.start().id, at_phase(Phase.AWAITING_APPROVAL))
    rig.main.shutdown()
    claimed: list[int] = []

    def refuse_lease(rollout_id: int) -> bool:
        claimed.append(rollout_id)
        return False

    other = rig.engine(listeners=(), claim=refuse_lease)
    # When it resumes, and a request for the rollout arrives
    assert other.resume_unfinished() == []
    other.submit(InboxItem(rollout.id, "approve", "U0BOB", rig.clock.now()))
    # Then it asked for the lease, left the rollout alone and queued the request
    assert claimed == [rollout.id]
    assert rig.get(rollout.id).phase is Phase.AWAITING_APPROVAL
    assert [i.action for i in rig.store.take_inbox(rollout.id)] == ["approve"]


def test_an_engine_can_take_other_processes_requests_by_itself(rig: Rig) -> None:
    rollout = rig.start(pilot_count=0)
    rig.main.shutdown()
    polling = rig.engine(listeners=(), poll_inbox_every=0.01)
    assert polling.resume_unfinished() == [rollout]
    rig.store.enqueue(InboxItem(rollout.id, "approve", "U0BOB", rig.clock.now()))
    approved = polling.wait(rollout.id, WAIT_LIMIT, until=lambda r: bool(r.approvals))
    assert [a.user for a in approved.approvals] == ["U0BOB"]


def test_a_listener_may_approve_without_deadlocking_the_rollout(rig: Rig) -> None:
    class AutoApprover:
        engine: Engine

        def publish(self, event: RolloutEvent) -> None:
            if event.kind is EventKind.AWAITING_APPROVAL:
                when = event.at
                self.engine.submit(InboxItem(event.rollout.id, "approve", "U0BOB", when))

    approver = AutoApprover()
    rig.main.shutdown()
    rig.main = rig.engine(listeners=[approver])
    approver.engine = rig.main
    rollout = rig.start(pilot_count=0, wait=0)
    assert rollout.phase is Phase.COMPLETED
    assert [a.user for a in rollout.approvals] == ["U0BOB"]
    audit = [(a.action, a.outcome) for a in rig.store.audit_log(rollout_id=rollout.id)]
    assert ("approve", "ok") in audit
