"""One shared view of an app's pods across namespaces, for large batches.

Each tenant's health check reads its deployment's pods twice (the latency baseline before
the patch, the health snapshot after the wait), one LIST per namespace each time. In a
batch of hundreds of tenants those lists are a quarter of rollbot's requests and much of
its CPU. An informer does better: one LIST of the pods with the deployments' selector in
every namespace, then one WATCH that keeps it current; each tenant reads its own
namespace's pods from it. A view is kept per selector string, so deployments whose
selectors differ never see each other's pods, and a read returns the pods of the one
namespace asked about, so pods of the same app in namespaces of other rollouts are
ignored.

When. The view is only worth its LIST when many tenants ask: it starts once pods with
one selector were asked for in ``min_namespaces`` different namespaces within ``window``
seconds (a small rollout never gets there and lists per namespace, as before), and only
if rollbot may list and watch pods in every namespace (two access reviews, their answer
kept a few minutes), as a namespaced service account may not. It stops when nobody has
read from it for ``IDLE_SECONDS``, when the adapter closes, or after its watch failed
``attempts`` times in a row; reads then go back to per-namespace lists.

Freshness. A check must not act on pods older than what a per-namespace list would have
returned. A list answers with the pods as of some resourceVersion at least as new as
everything rollbot had already seen of that deployment: its patch, the state its rollout
wait ended on. So a read of namespace N for deployment D is answered from the view only
when (1) its watch is connected now, and (2) the view has applied every pod event up to
a resourceVersion at least as new as the newest state of D this adapter has seen (see
:meth:`bot.kube.seen.Seen.version`). The state the wait ended on is the deployment
controller's account of the pods (ready, old ones gone), written after the pod changes
that led to it; (2) puts all of those in the view. A pod change after it reaches the view
within the watch's delivery time, the same few milliseconds by which a list sent a moment
earlier would have missed it. resourceVersions are compared as numbers: Kubernetes calls
them opaque, but every server numbers them from one counter (etcd's revision); a server
whose versions are not numbers is never answered from the view. The view's version moves
with pod events only, so a read whose deployment is newer than the last pod event waits
up to ``patience`` seconds for one and otherwise lists its namespace, as before.

Expiry and reconnects. A watch the server ends is re-opened from the last version
applied, so no event is missed; 410 Gone (that version has left the server's history)
means a fresh LIST replaces the whole view. While the watch is not connected the view
answers nobody, and callers list per namespace.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bot.kube.access import can_i
from bot.kube.deployments import dig, items_of, list_versioned, meta, name_of
from bot.kube.errors import CLIENT_ERRORS, GONE, status_of, translate, watch_error
from bot.kube.seen import version_of
from bot.kube.wire import Json, path
from rollout.errors import RollbotError

if TYPE_CHECKING:
    from bot.kube.client import Kube

log = logging.getLogger("rollbot.kube")

MIN_NAMESPACES = 32  # namespaces asking for one selector's pods within WINDOW_SECONDS
WINDOW_SECONDS = 1.0
PATIENCE_SECONDS = 0.2  # how long a read waits for the view to catch up before listing
IDLE_SECONDS = 120.0  # unread this long, the view stops and its watch closes
WATCH_SECONDS = 10  # each watch session's length: the view notices idleness this often
ACCESS_SECONDS = 300.0  # how long an access review's answer is kept
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
PODS = path("api", "v1", "pods")
FAILURES: tuple[type[BaseException], ...] = (RollbotError, *CLIENT_ERRORS)


class _Expired(Exception):
    """The version the view watches from has left the server's history (410)."""


def slim(pod: Json) -> Json:
    """What the checks read of a pod (name, namespace, the default log container, the
    containers' names, the status), so a view of thousands of pods stays small."""
    md = meta(pod)
    kept: Json = {k: md[k] for k in ("name", "namespace", "resourceVersion") if k in md}
    default = (md.get("annotations") or {}).get(DEFAULT_CONTAINER)
    if default:
        kept["annotations"] = {DEFAULT_CONTAINER: default}
    containers = [{"name": c.get("name")} for c in items_of(pod, "spec", "containers")]
    status = dig(pod, "status")
    return {
        "metadata": kept,
        "spec": {"containers": containers},
        "status": status if isinstance(status, dict) else {},
    }


class PodView:
    """The pods of one selector in every namespace, kept current by a watch on a thread."""

    def __init__(self, k: Kube, selector: str) -> None:
        self._k = k
        self.selector = selector
        self._lock = threading.Lock()
        # Reads waiting for the view to catch up, soonest first: an event wakes only the
        # ones it satisfies, not every reader of a batch of hundreds.
        self._waiting: list[tuple[int, int, threading.Event]] = []
        self._order = itertools.count()
        self._pods: dict[str, dict[str, Json]] = {}  # namespace -> name -> slim pod
        self._version = 0  # every pod event up to this resourceVersion is applied
        self._live = False  # the watch is connected, so the view is no staler than it
        self._stopped = False
        self._read_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="rollbot-pod-view", daemon=True)

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

    def pods(self, namespace: str, *, at_least: int, patience: float) -> list[Json] | None:
        """The namespace's pods (not being deleted, by name) once the view is live and has
        applied every event up to `at_least`; None if that takes longer than `patience`."""
        woken = None
        with self._lock:
            self._read_at = time.monotonic()
            if not self._answers(at_least):
                woken = threading.Event()
                heapq.heappush(self._waiting, (at_least, next(self._order), woken))
        if woken is not None:
            woken.wait(patience)
        with self._lock:
            if not self._answers(at_least):
                return None
            found = list(self._pods.get(namespace, {}).values())
        return sorted(found, key=name_of)

    def _answers(self, at_least: int) -> bool:
        return not self._stopped and self._live and self._version >= at_least

    def _wake(self) -> None:
        """Wake the reads the view can answer now (all of them once it stopped, to list
        their namespaces); called with the lock held."""
        while self._waiting and (
            self._stopped or (self._live and self._waiting[0][0] <= self._version)
        ):
            heapq.heappop(self._waiting)[2].set()

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
                        log.info("shared pod view of %s stops: %s", self.selector, err)
                        return
                    self._k.retry.pause(self._k.policy.backoff(failures - 1))
        except FAILURES as err:
            log.info("no shared pod view of %s: %s", self.selector, err)
        finally:
            self.stop()

    def _relist(self) -> None:
        with self._lock:
            self._live = False
        # One page: a single snapshot, and one request where pages would be many.
        items, version = list_versioned(
            self._k,
            f"list pods matching {self.selector} in every namespace",
            PODS,
            query=[("labelSelector", self.selector)],
            page_size=0,
        )
        pods: dict[str, dict[str, Json]] = {}
        for pod in items:
            md = meta(pod)
            if not md.get("deletionTimestamp"):
                pods.setdefault(str(md.get("namespace") or ""), {})[name_of(pod)] = slim(pod)
        with self._lock:
            self._pods = pods
            self._version = int(version) if version.isdigit() else 0
            self._live = self._version > 0
            self._wake()

    def _watch(self) -> None:
        """One watch session from the version applied; returns when the server ends it."""
        query: list[tuple[str, str | int]] = [
            ("watch", "true"),
            ("labelSelector", self.selector),
            ("resourceVersion", str(self._version)),
            ("timeoutSeconds", WATCH_SECONDS),
            ("allowWatchBookmarks", "true"),
        ]
        read_timeout = WATCH_SECONDS + max(1.0, self._k.policy.read_timeout)
        try:
            stream = self._k.wire.stream(
                PODS, query=query, timeout=(self._k.policy.connect_timeout, read_timeout)
            )
            with contextlib.closing(stream):
                with self._lock:
                    self._live = True
                    self._wake()
                for event in stream:
                    self._apply(event)
                    if self._done():
                        return
        except CLIENT_ERRORS as exc:
            if status_of(exc) == GONE:
                raise _Expired from exc
            raise translate(exc, f"watch pods matching {self.selector}") from exc
        finally:
            with self._lock:
                self._live = False

    def _apply(self, event: Json) -> None:
        kind, obj = event.get("type"), event.get("object")
        if kind == "ERROR":
            raise watch_error(obj)  # a 410 among them is handled as Gone, below
        if not isinstance(obj, dict):
            return
        md = meta(obj)
        namespace, name = str(md.get("namespace") or ""), name_of(obj)
        kept = slim(obj) if kind in ("ADDED", "MODIFIED") else None
        with self._lock:
            if kept is not None and not md.get("deletionTimestamp"):
                self._pods.setdefault(namespace, {})[name] = kept
            elif kind in ("ADDED", "MODIFIED", "DELETED"):
                self._pods.get(namespace, {}).pop(name, None)
            self._version = max(self._version, version_of(obj))  # BOOKMARKs move it too
            self._wake()


class PodViews:
    """The shared views of an adapter, one per selector, started when enough tenants ask."""

    def __init__(
        self,
        k: Kube,
        *,
        min_namespaces: int = MIN_NAMESPACES,
        window: float = WINDOW_SECONDS,
        patience: float = PATIENCE_SECONDS,
    ) -> None:
        self._k = k
        self.min_namespaces = max(1, min_namespaces)
        self.window = window
        self.patience = patience
        self._lock = threading.Lock()
        self._views: dict[str, PodView] = {}
        self._asked: dict[str, OrderedDict[str, float]] = {}  # selector -> namespace -> when
        self._access: tuple[bool, float] | None = None  # (allowed, checked at)
        self._checking = False

    def pods(self, namespace: str, selector: str, *, at_least: int) -> list[Json] | None:
        """The pods the view holds for the namespace, as fresh as its module says; None
        when there is no view to ask (the caller lists the namespace)."""
        if at_least <= 0 or not selector:
            return None  # nothing seen of the deployment to be as new as: list it
        view = self._view(namespace, selector)
        return None if view is None else view.pods(namespace, at_least=at_least,
                                                   patience=self.patience)  # fmt: skip

    def expect(self, selectors: Iterable[str]) -> None:
        """Deployments were found in many namespaces (the preflight of a rollout): start
        the view of each selector shared by at least ``min_namespaces`` of them now, so
        that its LIST is done before the batch's reads arrive."""
        counts = Counter(s for s in selectors if s)
        for selector, count in counts.items():
            if count >= self.min_namespaces and self._may_watch():
                self._start(selector)

    def _view(self, namespace: str, selector: str) -> PodView | None:
        now = time.monotonic()
        with self._lock:
            view = self._views.get(selector)
            if view is not None and view.running:
                return view
            asked = self._asked.setdefault(selector, OrderedDict())
            asked[namespace] = now
            asked.move_to_end(namespace)
            while asked and now - next(iter(asked.values())) > self.window:
                asked.popitem(last=False)
            if len(asked) < self.min_namespaces:
                return None
        return self._start(selector) if self._may_watch() else None

    def _start(self, selector: str) -> PodView:
        with self._lock:
            view = self._views.get(selector)
            if view is None or not view.running:
                view = self._views[selector] = PodView(self._k, selector)
                self._asked.pop(selector, None)
                view.start()
            return view

    def _may_watch(self) -> bool:
        """May rollbot list and watch pods in every namespace? Asked by one caller at a
        time (the others list meanwhile), and the answer kept for a while."""
        with self._lock:
            if self._access is not None and time.monotonic() - self._access[1] < ACCESS_SECONDS:
                return self._access[0]
            if self._checking:
                return False
            self._checking = True
        allowed = False
        try:
            allowed = all(
                can_i(self._k, verb=verb, resource="pods", namespace="", group="")
                for verb in ("list", "watch")
            )
        except RollbotError as err:
            log.info("cannot tell whether pods may be watched in every namespace: %s", err)
        finally:
            with self._lock:
                self._access = (allowed, time.monotonic())
                self._checking = False
        return allowed

    def close(self) -> None:
        with self._lock:
            views = list(self._views.values())
            self._views.clear()
        for view in views:
            view.stop()
