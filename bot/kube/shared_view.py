"""One LIST and one WATCH of a kind across namespaces, kept current on a thread.

This is an informer's reflector, cut to what rollbot's shared views need (see
:mod:`bot.kube.pod_view` for when they are used and why their answers are fresh enough):
the objects matching one selector in every namespace, by namespace and name, slimmed to
what is read of them; the resourceVersion up to which every event has been applied; and
whether the watch is connected now. A watch the server ends is re-opened from the last
version applied, so no event is missed; 410 Gone (that version has left the server's
history) means a fresh LIST replaces everything. While the watch is not connected the
view answers nobody. It stops when nobody has read from it for ``IDLE_SECONDS``, when
the adapter closes, or after its watch failed ``attempts`` times in a row.

Readers wait on it without waking each other: a read waiting for a version is woken by
the event that reaches it, a wait on one object by that object's next event.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from bot.kube.deployments import list_versioned, meta, name_of
from bot.kube.errors import CLIENT_ERRORS, GONE, status_of, translate, watch_error
from bot.kube.seen import version_of
from bot.kube.wire import Json, Query
from rollout.errors import RollbotError

if TYPE_CHECKING:
    from bot.kube.client import Kube

log = logging.getLogger("rollbot.kube")

IDLE_SECONDS = 120.0  # unread this long, the view stops and its watch closes
QUIET_SECONDS = 0.01  # a watch without events this long has nothing more for a read
WATCH_SECONDS = 10  # each watch session's length: the view notices idleness this often
FAILURES: tuple[type[BaseException], ...] = (RollbotError, *CLIENT_ERRORS)
GONE_OBJECT: Json = {}  # what `newer` answers for an object deleted, or never there
T = TypeVar("T")
Key = tuple[str, str]


class _Expired(Exception):
    """The version the view watches from has left the server's history (410)."""


class SharedView:
    """The objects of `resource` that `query` selects, in every namespace."""

    def __init__(
        self, k: Kube, *, resource: str, what: str, query: Query, slim: Callable[[Json], Json]
    ) -> None:
        self._k = k
        self.resource, self.what, self.query, self._slim = resource, what, query, slim
        self._lock = threading.Lock()
        self._waiting: list[tuple[int, int, threading.Event]] = []  # by version wanted
        self._order = itertools.count()
        self._keyed: defaultdict[Key, list[threading.Event]] = defaultdict(list)
        self._objects: dict[str, dict[str, Json]] = {}  # namespace -> name -> slim object
        self._version = 0  # every event up to this resourceVersion is applied
        self._applied = 0  # events applied so far, to tell a busy watch from a quiet one
        self._live = False  # the watch is connected, so the view is no staler than it
        self._stopped = False
        self._read_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="rollbot-view", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        with self._lock:
            return not self._stopped

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._live = False
            self._wake()

    def read(
        self, take: Callable[[dict[str, dict[str, Json]]], T], *, at_least: int, patience: float
    ) -> T | None:
        """`take` of the objects, once the view is live and has applied every event up
        to `at_least`; None if that takes longer than `patience`, or if the connected
        watch goes quiet meanwhile (no event for ``QUIET_SECONDS``: the version wanted
        was most likely of another kind's change, and only a list can tell)."""
        woken = None
        with self._lock:
            self._read_at = time.monotonic()
            if not self._answers(at_least):
                woken = threading.Event()
                heapq.heappush(self._waiting, (at_least, next(self._order), woken))
        deadline = time.monotonic() + patience
        while woken is not None and not woken.is_set():
            applied = self._applied
            left = deadline - time.monotonic()
            if woken.wait(max(0.0, min(left, QUIET_SECONDS))):
                break
            if left <= QUIET_SECONDS or (self._live and self._applied == applied):
                break
        with self._lock:
            return take(self._objects) if self._answers(at_least) else None

    def newer(self, namespace: str, name: str, *, than: int, timeout: float) -> Json | None:
        """The object once the view holds a state of it newer than version `than`
        (GONE_OBJECT if it was deleted); None when `timeout` passes first or the view
        is not live. It answers what a watch from `than` would have shown last."""
        deadline = time.monotonic() + timeout
        while True:
            woken = threading.Event()
            with self._lock:
                self._read_at = time.monotonic()
                if self._stopped:
                    return None
                if self._live and self._version >= than:
                    found = self._objects.get(namespace, {}).get(name)
                    if found is None:
                        return GONE_OBJECT
                    if version_of(found) > than:
                        return found
                self._keyed[(namespace, name)].append(woken)
            left = deadline - time.monotonic()
            if left <= 0 or not woken.wait(left):
                return None

    def _answers(self, at_least: int) -> bool:
        return not self._stopped and self._live and self._version >= at_least

    def _wake(self, *, everyone: bool = False, key: Key | None = None) -> None:
        """Wake the reads the view can answer now (all, once it stopped), and the waits
        on `key`, or on every object when the watch (dis)connects; with the lock held."""
        while self._waiting and (
            self._stopped or (self._live and self._waiting[0][0] <= self._version)
        ):
            heapq.heappop(self._waiting)[2].set()
        if everyone or self._stopped:
            keys = list(self._keyed)
        else:
            keys = [key] if key is not None and key in self._keyed else []
        for each in keys:
            for woken in self._keyed.pop(each):
                woken.set()

    # --- the view's thread ------------------------------------------------------------

    def _done(self) -> bool:
        idle = time.monotonic() - self._read_at > IDLE_SECONDS
        return self._k.closed.is_set() or idle or not self.running

    def _run(self) -> None:
        failures = 0
        try:
            self._relist()
            while not self._done():
                try:
                    self._watch()
                    failures = 0
                except _Expired:
                    self._relist()
                except FAILURES as err:
                    failures += 1
                    if failures >= max(1, self._k.policy.attempts):
                        log.info("shared view of %s stops: %s", self.what, err)
                        return
                    self._k.retry.pause(self._k.policy.backoff(failures - 1))
        except FAILURES as err:
            log.info("no shared view of %s: %s", self.what, err)
        except Exception:  # a bug must end the view (readers go their own way), not hang it
            log.exception("shared view of %s failed", self.what)
        finally:
            self.stop()

    def _relist(self) -> None:
        with self._lock:
            self._live = False
            self._wake(everyone=True)
        # Pages of a consistent snapshot, each slimmed as it arrives: whole objects of
        # a 10,000-tenant fleet at once would cost a few hundred MB. Whatever changes while
        # the pages come in reaches the view through the watch, opened at the first
        # page's resourceVersion.
        items, version = list_versioned(
            self._k, f"list {self.what} in every namespace", self.resource,
            query=self.query, keep=self._kept,
        )  # fmt: skip
        objects: dict[str, dict[str, Json]] = {}
        for obj in items:
            md = meta(obj)
            objects.setdefault(str(md.get("namespace") or ""), {})[name_of(obj)] = obj
        with self._lock:
            self._objects = objects
            self._version = int(version) if version.isdigit() else 0
            self._live = self._version > 0
            self._wake(everyone=True)

    def _kept(self, obj: Json) -> Json | None:
        """A listed object as the view keeps it; one being deleted is not kept."""
        return None if meta(obj).get("deletionTimestamp") else self._slim(obj)

    def _watch(self) -> None:
        """One watch session from the version applied; returns when the server ends it."""
        query: list[tuple[str, str | int]] = [
            *self.query,
            ("watch", "true"),
            ("resourceVersion", str(self._version)),
            ("timeoutSeconds", WATCH_SECONDS),
            ("allowWatchBookmarks", "true"),
        ]
        read_timeout = WATCH_SECONDS + max(1.0, self._k.policy.read_timeout)
        try:
            stream = self._k.wire.stream(
                self.resource, query=query, timeout=(self._k.policy.connect_timeout, read_timeout)
            )
            with contextlib.closing(stream):
                with self._lock:
                    self._live = True
                    self._wake(everyone=True)
                for event in stream:
                    self._apply(event)
                    if self._done():
                        return
        except CLIENT_ERRORS as exc:
            if status_of(exc) == GONE:
                raise _Expired from exc
            raise translate(exc, f"watch {self.what}") from exc
        finally:
            with self._lock:
                self._live = False
                self._wake(everyone=True)

    def _apply(self, event: Json) -> None:
        kind, obj = event.get("type"), event.get("object")
        if kind == "ERROR":
            raise watch_error(obj)  # a 410 among them is handled as Gone, above
        if not isinstance(obj, dict):
            return
        md = meta(obj)
        key = (str(md.get("namespace") or ""), name_of(obj))
        kept = self._slim(obj) if kind in ("ADDED", "MODIFIED") else None
        with self._lock:
            if kept is not None and not md.get("deletionTimestamp"):
                self._objects.setdefault(key[0], {})[key[1]] = kept
            elif kind in ("ADDED", "MODIFIED", "DELETED"):
                self._objects.get(key[0], {}).pop(key[1], None)
            self._version = max(self._version, version_of(obj))  # BOOKMARKs move it too
            self._applied += 1
            self._wake(key=key)
