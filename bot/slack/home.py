"""The App Home tabs: who has opened one, and their view kept current through the outbox.

Slack shows each person the view last published for them, and tells the app only when
the tab is opened, so the board remembers who opened it (in memory: after a restart a
person's tab is drawn again when they next open it) and, whenever a rollout changes phase
or a release step starts or ends, draws every such viewer's tab again. Tenant events that
change no phase do not: a Home tab is an overview, and the thread has the detail.

Views are not sent from here. Each one is a row of the delivery's outbox addressed to the
viewer (`channel` is their user ID), so it goes out on the delivery's worker thread, at
the delivery's pace for that viewer (one call per `min_interval`, a second by default),
retried on 429 and 5xx like any message; a newer view for someone replaces one still
queued, so a burst of phase changes costs each viewer one call.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from bot.slack import refs
from bot.slack.outbox import Outgoing
from handlers.home import home_buttons
from handlers.render import Message
from handlers.render.home import (
    RECENT_SHOWN,
    ActiveRollout,
    Finished,
    error_view,
    home_text,
    home_view,
)
from rollout.actions import Action
from rollout.model import AppSpec, EventKind, Rollout, RolloutEvent
from rollout.ports import Store
from rollout.release import Release, ReleaseEvent
from rollout.release.model import ReleasePhase

log = logging.getLogger(__name__)

ACTIVE_READ = 200  # active rollouts read for a view: one per app at most, so all of them
# A decision that leaves the phase as it is still changes who may approve.
REDRAW_KINDS = frozenset({EventKind.APPROVAL_RECORDED})


class Outlet(Protocol):
    """What the board needs of :class:`bot.slack.SlackDelivery`."""

    def queue(self, items: Sequence[Outgoing], *, what: str) -> None: ...

    def thread_link(self, name: str) -> str | None: ...


class ReleaseList(Protocol):
    def list_releases(self, *, limit: int = ...) -> list[Release]: ...


class HomeBoard:
    """Implements :class:`rollout.ports.Listener` and
    :class:`rollout.release.ports.ReleaseListener`; one per process, beside the delivery.

    `attach` gives it the journal (and the release pipeline) once the runtime exists; until
    then nobody can have opened the tab, and events are only noted."""

    def __init__(
        self, *, outlet: Outlet, apps: Mapping[str, AppSpec], now: Callable[[], datetime]
    ) -> None:
        self._outlet = outlet
        self._apps = apps
        self._now = now
        self._store: Store | None = None
        self._releases: ReleaseList | None = None
        self._lock = threading.Lock()  # viewers and phases; one redraw at a time
        self._viewers: dict[str, frozenset[str]] = {}
        self._phases: dict[str, str] = {}  # "rollout:7" / "release:2" -> the phase last seen

    def attach(self, store: Store, releases: ReleaseList | None) -> None:
        self._store, self._releases = store, releases

    # --- who is looking -----------------------------------------------------------------

    def opened(self, user: str, member_of: frozenset[str]) -> None:
        """`user` opened the tab: remember them (with their user groups, which decide their
        buttons) and queue their view."""
        with self._lock:
            self._viewers[user] = member_of
            self._draw({user: member_of})

    # --- the listeners ------------------------------------------------------------------

    def publish(self, event: RolloutEvent) -> None:
        rollout = event.rollout
        if self._moved(f"rollout:{rollout.id}", rollout.phase, ended=rollout.phase.terminal) or (
            event.kind in REDRAW_KINDS
        ):
            self.redraw()

    def publish_release(self, event: ReleaseEvent) -> None:
        release = event.release
        # A release stays "running" from start to end: its steps are its phases.
        where = release.phase + ":" + ",".join(s.state for s in release.steps)
        if self._moved(f"release:{release.id}", where, ended=release.phase.terminal):
            self.redraw()

    def _moved(self, key: str, phase: str, *, ended: bool) -> bool:
        with self._lock:
            before = self._phases.pop(key, None)
            if not ended:
                self._phases[key] = phase  # finished ones are forgotten: they move no more
            return before != phase

    def redraw(self) -> None:
        """Every viewer's tab drawn again; never raises (a listener must not break the
        engine)."""
        try:
            with self._lock:
                if self._viewers:
                    self._draw(dict(self._viewers))
        except Exception:
            log.exception("could not redraw the Home tabs")

    # --- drawing ------------------------------------------------------------------------

    def _draw(self, viewers: Mapping[str, frozenset[str]]) -> None:
        if self._store is None:
            return
        now = self._now()
        try:
            active, recent, releases = self._read(self._store)
        except Exception as exc:
            log.exception("could not read the journal for the Home tab")
            views = {u: error_view(type(exc).__name__, at=now) for u in viewers}
        else:
            views = {
                user: home_view(
                    active=[ActiveRollout(r, self._buttons(r, user, groups)) for r in active],
                    releases=releases, recent=recent, at=now,
                )
                for user, groups in viewers.items()
            }  # fmt: skip
        rows = [
            Outgoing("view", user, _message(view), ref=refs.home(user), purpose="home")
            for user, view in views.items()
        ]
        self._outlet.queue(rows, what=f"the Home tab of {len(rows)} viewer(s)")

    def _buttons(self, rollout: Rollout, user: str, groups: frozenset[str]) -> tuple[Action, ...]:
        spec = self._apps.get(rollout.app)
        if spec is None:
            return ()  # no longer configured: a click would be refused
        return home_buttons(rollout, spec, user, groups)

    def _read(self, store: Store) -> tuple[list[Rollout], list[Finished], list[Release]]:
        active = store.list_rollouts(active=True, limit=ACTIVE_READ)
        ended: list[Finished] = [
            Finished(r, self._outlet.thread_link(refs.parent(r.id)))
            for r in store.list_rollouts(active=False, limit=RECENT_SHOWN)
        ]
        running: list[Release] = []
        if self._releases is not None:
            for release in self._releases.list_releases(limit=RECENT_SHOWN + 5):
                if release.phase is ReleasePhase.RUNNING:
                    running.append(release)
                else:
                    link = self._outlet.thread_link(refs.release_parent(release.id))
                    ended.append(Finished(release, link))
        return active, ended, running


def _message(view: dict[str, object]) -> Message:
    blocks = view.get("blocks")
    return Message(text=home_text(view) or "rollbot", blocks=tuple(blocks) if isinstance(
        blocks, list) else ())

