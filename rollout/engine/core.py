"""The engine: the only place effects run.

For every event of a rollout, one at a time: load it from the journal, `decide`, save the
result, tell the listeners, then run the effects. Saving before running is the whole of
crash safety: a tenant is recorded UPDATING (with its previous image) before it is
patched, so a restart finds every intent and `Recover` finishes it without skipping or
repeating anyone. Blocking effects run on worker threads and come back as events; waits,
windows, gates and scheduled starts are timers armed from stored deadlines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime
from functools import partial

from rollout.actions import Action
from rollout.engine.pace import Paces
from rollout.engine.planning import (
    Checked,
    app_spec,
    check_deploy,
    deployable,
    draft,
    plan_for,
    undo_settings,
)
from rollout.engine.requests import (
    check_rollback_order,
    described,
    latest_to_roll_back,
    to_command,
)
from rollout.engine.wiring import Driving, EnginePorts, assemble
from rollout.errors import EngineStopped, RollbotError, RolloutConflict
from rollout.machine import (
    Command,
    Recover,
    Rollback,
    Start,
    decide,
)
from rollout.model import (
    AppSpec,
    HealthSpec,
    InboxItem,
    OsAccount,
    Phase,
    Rollout,
    Strategy,
)
from rollout.options import RolloutOptions
from rollout.plan import Estimate, Plan, estimate, eta, resolve_settings
from rollout.ports import (
    Listener,
)

log = logging.getLogger("rollbot.engine")

REPLY_SECONDS = 30.0  # how long a person's request may wait for its rollout's driver
FOREIGN_POLL_SECONDS = 0.5  # re-read interval for a rollout another process drives
GATES = frozenset({Phase.AWAITING_APPROVAL, Phase.PAUSED})


class Engine:
    """Drives rollouts: start them, take people's requests, resume them after a restart."""

    def __init__(
        self,
        *,
        apps: Mapping[str, AppSpec],
        health: HealthSpec,
        ports: EnginePorts,
        listeners: Sequence[Listener] = (),
        driving: Driving | None = None,
    ) -> None:
        """`ports`: the adapters it runs on; `driving`: how this process drives (see
        :mod:`rollout.engine.wiring`)."""
        driving = driving or Driving()
        self._apps = dict(apps)
        self._cluster = ports.cluster
        self._store = ports.store
        self._clock = ports.clock
        self._stopping = threading.Event()
        self._claim = driving.claim or (lambda rollout_id: True)
        parts = assemble(
            self._apps, health, ports, driving, listeners=listeners, stopping=self._stopping
        )
        self._pool = parts.pool
        # How fast each app's tenants roll, for estimates and ETAs.
        self.paces = Paces(self._store, parallel=driving.max_parallel)
        self._preflight = parts.preflight
        self._runner = parts.runner
        self._driver = self._runner.driver
        self._poller: threading.Thread | None = None
        if driving.poll_inbox_every is not None:
            self._poller = threading.Thread(
                target=self._poll_forever,
                args=(driving.poll_inbox_every,),
                name="rollbot-inbox",
                daemon=True,
            )
            self._poller.start()

    # --- planning and starting --------------------------------------------------------------

    def plan(
        self, app: str, version: str, options: RolloutOptions, *, image_check: bool = True
    ) -> tuple[Plan, Estimate]:
        """The plan a deploy would follow, and how long it should take, after the same
        preflight a deploy runs: `plan.problems` lists every reason the deploy would be
        refused. Changes nothing, creates no rollout. A release, whose images do not exist
        yet, plans without `image_check`."""
        spec = app_spec(self._apps, app)
        checked = check_deploy(self._cluster, self._preflight, spec, version=version,
                               options=options, now=self._clock.now(), image_check=image_check)
        self._preflight.forget(checked.surveyed_as)
        pace = self.paces.of_app(app)
        return checked.plan, estimate(checked.plan, checked.settings, pace=pace,
                                      strategy=spec.strategy)

    def eta(self, rollout: Rollout) -> datetime | None:
        """When `rollout` should end, at its app's pace (see :func:`rollout.plan.eta`)."""
        return eta(rollout, now=self._clock.now(), pace=self.paces.of(rollout))

    def preview(self, app: str, version: str, options: RolloutOptions, plan: Plan) -> Rollout:
        """The rollout `plan` would become, unsaved (ID 0), for showing a dry run."""
        spec = app_spec(self._apps, app)
        settings = plan.settings or resolve_settings(spec.settings, options)
        return draft(spec, plan, version=version, settings=settings, user="", now=self._clock.now())

    def start(
        self,
        *,
        app: str,
        version: str,
        options: RolloutOptions,
        user: str,
        source: str = "cli",
        channel: str = "",
        os_account: OsAccount | None = None,
    ) -> Rollout:
        """Plan and create the rollout, then run it in the background. `channel`: the Slack
        channel it was asked for in, where its progress is posted; `os_account`: the
        terminal account that asked, journalled with it for four-eyes. Raises PlanError
        (unknown tenants, ...), RolloutConflict (the app has an active rollout)."""
        if options.dry_run:
            raise ValueError("a dry run changes nothing: call plan() instead")
        spec = app_spec(self._apps, app)
        return self._create(
            spec,
            version=version,
            prepare=partial(deployable, self._cluster, self._preflight, spec, version=version,
                            options=options, now=self._clock.now()),
            start_at=options.at,
            user=user,
            source=source,
            channel=channel,
            action=f"deploy {app} {version}",
            os_account=os_account,
        )

    def rollback_app(
        self,
        *,
        app: str,
        to_version: str | None,
        tenants: Sequence[str] | None,
        user: str,
        channel: str = "",
        os_account: OsAccount | None = None,
    ) -> Rollout:
        """`/rollback <app>`: undo the app's latest rollout (every tenant back to the image
        it recorded; blue-green: switch back), or, with `to_version`, deploy that version
        at once (no pilots, no gate, no waits). RolloutConflict while one is active.
        `channel`: where a new rollout (`to_version`) was asked for; an undo goes on in
        the thread of the rollout it undoes."""
        spec = app_spec(self._apps, app)
        active = self._store.active_for_app(app)
        if active is not None:
            raise RolloutConflict(app, active.id)
        chosen = tuple(tenants) if tenants is not None else None
        if to_version is not None:
            settings = undo_settings(spec.settings)
            return self._create(
                spec,
                version=to_version,
                prepare=lambda: Checked.unchecked(
                    plan_for(self._cluster, spec, settings=settings, tenants=chosen), settings),
                start_at=None,
                user=user,
                source="rollback",
                channel=channel,
                action=f"rollback {app} to={to_version}",
                os_account=os_account,
            )
        recent = self._store.list_rollouts(app=app, limit=50)
        latest = latest_to_roll_back(recent, app=app, tenants=chosen, now=self._clock.now())
        item = InboxItem(
            latest.id, Action.ROLLBACK, user, self._clock.now(), tenants=chosen,
            os_account=os_account,
        )
        return self.rollback(item)

    def _create(
        self,
        spec: AppSpec,
        *,
        version: str,
        prepare: Callable[[], Checked],
        start_at: datetime | None,
        user: str,
        source: str,
        channel: str,
        action: str,
        os_account: OsAccount | None,
    ) -> Rollout:
        """`prepare`: the plan and settings, checked for a deploy (its preflight survey is
        handed to the rollout when it starts now); it raises when it may not start."""
        self._check_running()
        now = self._clock.now()
        checked = None
        try:
            checked = prepare()
            new = draft(spec, checked.plan, version=version, settings=checked.settings,
                        user=user, now=now, start_at=start_at, source=source, channel=channel,
                        requested_from=os_account)
            created = self._store.create_rollout(new)
        except RollbotError as err:
            if checked is not None:
                self._preflight.forget(checked.surveyed_as)
            self._runner.audit(user=user, action=action, outcome="refused", detail=str(err),
                               source=source, os_account=os_account)
            raise
        self._runner.audit(user=user, action=action, outcome="ok", rollout_id=created.id,
                           source=source, os_account=os_account)
        if start_at is None:
            self._preflight.hand_over(checked.survey, surveyed_as=checked.surveyed_as,
                                      rollout=created)
        else:  # it starts later: its preflight reads afresh then
            self._preflight.forget(checked.surveyed_as)
        self._claim(created.id)  # new: no one else can hold it yet
        self._runner.adopt(created.id)
        self._driver.post(created.id, Start())
        return created

    # --- people's requests ------------------------------------------------------------------

    def submit(self, item: InboxItem) -> None:
        """Carry out a request now (the rollout is driven here, or finished), or queue it for
        the process that drives it. Refusals raise InvalidTransition / UnknownRollout, and
        every request, carried out or refused, is written to the audit log."""
        self._carry_out(item)

    def rollback(self, item: InboxItem) -> Rollout:
        """`/rollback <ID>`: a rollback request; returns the rollout as it is afterwards."""
        if item.action != Action.ROLLBACK:
            raise ValueError(f"not a rollback request: {item.action}")
        return self._carry_out(item)

    def check(self, item: InboxItem) -> None:
        """Would this request be taken now? Raises as `submit` would; changes nothing."""
        try:
            self._validate(item)
        except RollbotError as err:
            self._audit_item(item, outcome="refused", detail=str(err))
            raise

    def poll_inbox(self) -> None:
        """Take the requests other processes left in the journal for rollouts driven here."""
        for rollout_id in self._runner.driven():
            for item in self._store.take_inbox(rollout_id):
                try:
                    self._carry_out(item)
                except RollbotError as err:
                    log.info("request %s on #%s refused: %s", item.action, rollout_id, err)
                except Exception:
                    log.exception("request %s on #%s failed", item.action, rollout_id)

    def _poll_forever(self, every: float) -> None:
        while not self._stopping.wait(every):
            try:
                self.poll_inbox()
            except Exception:  # the journal may be busy; the next round tries again
                log.exception("taking requests from the journal failed")

    def _carry_out(self, item: InboxItem) -> Rollout:
        try:
            rollout, command = self._validate(item)
            if not self._runner.drives(rollout.id) and (
                rollout.active or not self._claim(rollout.id)
            ):
                # Another process drives it: the journal's inbox takes the request there.
                # (A finished one is adopted here, as a roll back or removal starts.)
                self._store.enqueue(item)
                return rollout
            reply = self._driver.post(rollout.id, command, reply=True)
            assert reply is not None
            if self._driver.handling():
                # Asked from a listener, on a driver thread: waiting here could wait for
                # this very thread. The outcome is audited when it is known.
                reply.add_done_callback(partial(self._audit_reply, item))
                return rollout
            result: Rollout = reply.result(timeout=REPLY_SECONDS)
        except RollbotError as err:
            self._audit_item(item, outcome="refused", detail=str(err))
            raise
        self._audit_item(item, outcome="ok")
        return result

    def _validate(self, item: InboxItem) -> tuple[Rollout, Command]:
        """The request's rollout and command, if the rollout as stored would take it."""
        command = to_command(item)
        rollout = self._runner.load(item.rollout_id)
        if isinstance(command, Rollback):
            others = self._store.list_rollouts(app=rollout.app, limit=50)
            check_rollback_order(rollout, command.tenants, others=others)
        decide(rollout, command, now=self._clock.now())  # pure: raises if it would refuse
        return rollout, command

    # --- after a restart --------------------------------------------------------------------

    def resume_unfinished(self, rollout_id: int | None = None) -> list[Rollout]:
        """Adopt unfinished rollouts (all, or one) and go on where each stopped: work that was
        under way is finished, timers are re-armed from stored deadlines. Returns them."""
        self._check_running()
        if rollout_id is not None:
            candidates = [self._runner.load(rollout_id)]
        else:
            candidates = self._store.list_rollouts(active=True, limit=100_000)
            candidates += self._removals_pending()
        resumed = []
        for rollout in candidates:
            if rollout.active and self._runner.drives(rollout.id):
                resumed.append(rollout)  # already driven here: its work is in flight
                continue
            if not (rollout.active or rollout.old_side_removal_owed) or not self._claim(rollout.id):
                continue  # finished, or another live process drives it
            self._runner.adopt(rollout.id)
            self._driver.post(rollout.id, Recover())
            if rollout.active:
                resumed.append(rollout)
        return resumed

    def _removals_pending(self) -> list[Rollout]:
        """Blue-green rollouts whose old side is due for removal after a delay."""
        found = []
        for name, spec in self._apps.items():
            if spec.strategy is Strategy.BLUE_GREEN:
                recent = self._store.list_rollouts(app=name, limit=5)
                found += [r for r in recent if r.old_side_removal_owed]
        return found

    # --- waiting ----------------------------------------------------------------------------

    def wait(
        self,
        rollout_id: int,
        timeout: float | None = None,
        *,
        until: Callable[[Rollout], bool] | None = None,
    ) -> Rollout:
        """The rollout once it has finished or waits for people (approval, paused), or
        `until` holds; as it is when `timeout` runs out. No polling for rollouts driven
        here: it wakes on every saved state."""
        settled = until or (lambda r: r.phase.terminal or r.phase in GATES)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            seen = self._driver.saves
            rollout = self._runner.load(rollout_id)
            left = None if deadline is None else deadline - time.monotonic()
            if settled(rollout) or (left is not None and left <= 0) or self._stopping.is_set():
                return rollout
            step = left if self._runner.drives(rollout_id) else FOREIGN_POLL_SECONDS
            if left is not None and step is not None:
                step = min(step, left)
            self._driver.wait_saved(seen, step if step is not None else 3600.0)

    def join(self, timeout: float | None = None) -> None:
        """Return once nothing is queued or running (armed timers do not count)."""
        if not self._driver.join(timeout):
            raise TimeoutError(f"the engine was still busy after {timeout}s")

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop: no more events are handled, queued ones are dropped, running work stops
        before its next change to the cluster. What was saved is what a restart resumes,
        exactly as after a crash. Without `wait`, running work is left to stop on its own;
        calling again with `wait` then waits for it."""
        self._stopping.set()
        self._runner.stop(wait=wait)
        self._pool.shutdown(wait=wait)
        if wait and self._poller is not None and self._poller is not threading.current_thread():
            self._poller.join()

    def _check_running(self) -> None:
        if self._stopping.is_set():
            raise EngineStopped("rollbot is shutting down")

    def _audit_reply(self, item: InboxItem, reply: Future[Rollout]) -> None:
        error = reply.exception()
        if error is None:
            self._audit_item(item, outcome="ok")
        elif isinstance(error, RollbotError):
            self._audit_item(item, outcome="refused", detail=str(error))
        else:
            self._audit_item(item, outcome="failed", detail=str(error))

    def _audit_item(self, item: InboxItem, *, outcome: str, detail: str = "") -> None:
        self._runner.audit(
            user=item.user,
            action=described(item),
            outcome=outcome,
            rollout_id=item.rollout_id,
            detail=detail,
            source=item.source,
            os_account=item.os_account,
        )
