"""The release pipeline as the faces call it: start, plan (dry run), status, list,
cancel, and taking up unfinished releases after a restart.

One process drives a release at a time, as with rollouts: a driver holds an OS lock on the
release's file beside the journal (:class:`bot.runtime.DriverClaims`), so `rollbot serve`
and a terminal never both run the same build. A stop asked for in another process is
written to the journal, where the driving process takes it within half a second.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from bot.build.images import DockerEngine
from bot.clock import SystemClock
from bot.config import Config
from bot.registry import RegistryClient
from bot.release.book import ReleaseBook, beside
from bot.release.preflight import ReleasePreflight
from bot.release.runner import POLL_SECONDS, ReleaseRunner
from bot.release.work import Workshop
from bot.runtime import Runtime
from rollout.errors import RollbotError
from rollout.model import OsAccount
from rollout.options import parse_options
from rollout.ports import Clock
from rollout.release import (
    DeployPlan,
    Release,
    ReleasePlan,
    ReleaseRequest,
    StepKind,
    StepState,
    plan_steps,
    recovered,
)
from rollout.release.ports import ReleaseListener


class Releases:
    def __init__(
        self, *, config: Config, runtime: Runtime, listeners: Sequence[ReleaseListener] = (),
        environ: Mapping[str, str] | None = None, registry: RegistryClient | None = None,
        workdir: Path | None = None, clock: Clock | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        user, password = env.get("REGISTRY_USERNAME"), env.get("REGISTRY_PASSWORD")
        credentials = (user, password or "") if user else None
        registry = registry or RegistryClient(username=user or None, password=password or None,
                                              insecure=config.registry.insecure)
        clock = clock or SystemClock()
        self.book = ReleaseBook(runtime.store, clock=clock)
        if workdir is None:
            workdir = beside(runtime.store) or Path(tempfile.mkdtemp(prefix="rollbot-releases-"))
        self._shop = Workshop(config=config, runtime=runtime, docker=DockerEngine(env),
                              registry=registry, credentials=credentials, workdir=workdir,
                              clock=clock)
        self._journal = self.book.journal
        self._preflight = ReleasePreflight(config, runtime, self._shop.docker, registry,
                                           self._journal)
        self._claims = self.book.claims
        self._listeners = list(listeners)
        self._runners: dict[int, ReleaseRunner] = {}
        self._lock = threading.Lock()

    # --- asking -----------------------------------------------------------------------------

    def start(
        self, request: ReleaseRequest, *, user: str, groups: frozenset[str] = frozenset(),
        source: str = "cli", channel: str = "", os_account: OsAccount | None = None,
    ) -> Release:
        """Journal the release and run it in the background; returns it with its ID.
        ReleaseConflict while another release is active."""
        if request.dry_run:
            raise ValueError("a dry run changes nothing: call plan() instead")
        release = replace(self._draft(request, user=user), source=source, channel=channel,
                          requested_from=os_account)
        action = f"release {request.version}"
        try:
            created = self._journal.create_release(release)
        except RollbotError as err:
            self.book.audit(user, action, "refused", str(err), source=source, account=os_account)
            raise
        detail = f"{created.label}; checks skipped (skip-checks)" if created.skip_checks else (
            created.label)
        self.book.audit(user, action, "ok", detail, source=source, account=os_account)
        self._drive(created, groups=groups)
        return created

    def plan(
        self, request: ReleaseRequest, *, user: str, groups: frozenset[str] = frozenset()
    ) -> ReleasePlan:
        """What the release would do, and every problem preflight finds. Changes nothing."""
        release = self._draft(request, user=user)
        now = self._shop.clock.now()
        checked = self._preflight.check(release, groups=groups, now=now)
        deploys: dict[str, DeployPlan] = {}
        if not request.build_only:
            options = parse_options(request.deploy_words, now=now)
            for app in release.apps:
                try:
                    plan, estimate = self._shop.runtime.engine.plan(app, request.version, options)
                except RollbotError:
                    continue  # preflight has named the problem
                preview = self._shop.runtime.engine.preview(app, request.version, options, plan)
                deploys[app] = DeployPlan(plan, estimate, preview)
        images = {app: self._shop.tag(release, app) for app in release.apps}
        return ReleasePlan(release, images, deploys, checked.problems)

    def status(self, release_id: int | None = None) -> Release:
        return self.book.status(release_id)

    def list_releases(self, *, limit: int = 10) -> list[Release]:
        return self.book.list_releases(limit=limit)

    def cancel(self, release_id: int, *, user: str, source: str = "cli",
               os_account: OsAccount | None = None) -> Release:
        """Stop it: at once when driven here, else as :meth:`ReleaseBook.cancel` does."""
        return self.book.cancel(release_id, user=user, source=source, os_account=os_account,
                                stop_here=self._stop_here)

    # --- driving ----------------------------------------------------------------------------

    def resume_unfinished(self) -> list[Release]:
        """Take up every unfinished release no other live process drives (SPEC section 9,
        restarts): builds run again, a push only if its tag is not verified."""
        taken = []
        for release in self._journal.list_releases(active=True, limit=100):
            with self._lock:
                if release.id in self._runners or not self._claims.claim(release.id):
                    continue
            verified = self._verified(release)
            again = recovered(release, verified=verified, now=self._shop.clock.now())
            saved = self._journal.save_release(again)
            self._drive(saved, groups=frozenset(), claimed=True)
            taken.append(saved)
        return taken

    def wait(self, release_id: int, timeout: float | None = None) -> Release:
        """The release once it has ended (and its running steps have settled)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            runner = self._runners.get(release_id)
        if runner is not None:
            runner.join(timeout)
        while True:
            release = self.status(release_id)
            done = release.phase.terminal and release.finished_at is not None
            if done or (deadline is not None and time.monotonic() >= deadline):
                return release
            time.sleep(POLL_SECONDS)  # driven by another process: the journal is all we see

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop driving, as a crash would but without leaving processes behind: running
        builds are ended, nothing more is journalled, and a restart takes each release up
        where the journal says it was (`resume_unfinished`)."""
        with self._lock:
            runners = list(self._runners.values())
        for runner in runners:
            runner.abandon()
        for runner in runners:
            runner.join(timeout)

    def driven_here(self) -> list[int]:
        with self._lock:
            return sorted(self._runners)

    # --- inside -----------------------------------------------------------------------------

    def _draft(self, request: ReleaseRequest, *, user: str) -> Release:
        order = self._shop.config.release_settings().order
        apps = tuple(a for a in order if request.apps is None or a in request.apps)
        return Release(id=0, version=request.version, apps=apps, requested_by=user,
                       created_at=self._shop.clock.now(), ref=request.ref or "",
                       steps=plan_steps(apps, build_only=request.build_only,
                                        skip_checks=request.skip_checks),
                       build_only=request.build_only, skip_checks=request.skip_checks,
                       deploy_words=request.deploy_words)

    def _drive(self, release: Release, *, groups: frozenset[str], claimed: bool = False) -> None:
        if not claimed:
            self._claims.claim(release.id)  # new: nobody else can hold it yet
        runner = ReleaseRunner(release, shop=self._shop, journal=self._journal,
                               preflight=self._preflight, listeners=self._listeners,
                               groups=groups, on_end=self._ended)
        with self._lock:
            self._runners[release.id] = runner
        runner.start()

    def _ended(self, release_id: int) -> None:
        with self._lock:
            self._runners.pop(release_id, None)
        self._claims.release(release_id)

    def _verified(self, release: Release) -> dict[str, str]:
        """Digests of the tags whose push had not finished, as the registry has them now."""
        found = {}
        for step in release.steps_of(StepKind.PUSH):
            if step.state in (StepState.PENDING, StepState.RUNNING):
                image = self._shop.config.app(step.app).image
                try:
                    digest = self._shop.registry.manifest_digest(image, release.version)
                except RollbotError:
                    digest = None  # not verified: the push runs again
                if digest:
                    found[step.app] = digest
        return found

    def _stop_here(self, release_id: int, user: str) -> Release | None:
        with self._lock:
            runner = self._runners.get(release_id)
        return None if runner is None else runner.request_stop(user)
