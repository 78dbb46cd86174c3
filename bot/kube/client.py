"""One shared, thread-safe connection to the API server and the typed APIs built on it.

The engine updates a batch of tenants from worker threads at once, so the urllib3 pool is
sized for the most requests the throttle lets through at once (and the watches beside
them); urllib3's own retries are switched off so that the only retries are the bounded,
counted ones of :mod:`bot.kube.retry`.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from kubernetes import config
from kubernetes.client import ApiClient, Configuration
from kubernetes.config.config_exception import ConfigException

from bot.backoff import RetryPolicy
from bot.kube.retry import Retrier
from bot.kube.seen import Seen
from bot.kube.watched import Watches
from bot.kube.wire import Limits, Wire
from rollout.errors import ConfigError

if TYPE_CHECKING:
    from bot.kube.pod_view import PodViews

# Connections kept open: the requests in flight plus the watches of a large batch.
MAX_POOL_SIZE = 2048
FAN_THREADS = 8  # see Kube.at_once
T = TypeVar("T")


def kubeconfig_configuration(
    path: str | None = None, *, context: str | None = None
) -> Configuration:
    """Read a kubeconfig (``$KUBECONFIG`` or ~/.kube/config when ``path`` is None)."""
    configuration = Configuration()
    try:
        # persist_config=False: never write refreshed tokens back into the user's file.
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, OSError) as exc:
        raise ConfigError("kubeconfig", f"{path or 'default kubeconfig'}: {exc}") from exc
    return configuration


def in_cluster_configuration() -> Configuration:
    """The service account credentials Kubernetes mounts into the bot's pod."""
    configuration = Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        raise ConfigError("in-cluster", str(exc)) from exc
    return configuration


def api_client(configuration: Configuration, *, pool_size: int = MAX_POOL_SIZE) -> ApiClient:
    configuration.connection_pool_maxsize = pool_size
    configuration.retries = 0
    return ApiClient(configuration)


@dataclass
class Kube:
    """What every operation needs: the wire and its limits, the retrier, request
    timeouts, what was last seen of each deployment (see :mod:`bot.kube.seen`), what
    each rollout wait in progress has learnt of its new pods (see :mod:`bot.kube.watched`)
    and, in a large rollout, shared views of pods and deployments (see
    :mod:`bot.kube.pod_view`)."""

    api: ApiClient
    policy: RetryPolicy
    limits: Limits = field(default_factory=Limits)
    closed: threading.Event = field(default_factory=threading.Event)
    seen: Seen = field(default_factory=Seen)
    watches: Watches = field(default_factory=Watches)
    pod_views: PodViews | None = None

    def __post_init__(self) -> None:
        self.wire = Wire(self.api, self.limits, max_pause=self.policy.max_delay)
        self.retry = Retrier(self.policy, self.closed)
        # Threads for the requests of one step that need not wait for each other. A few
        # are enough: each request takes milliseconds, and in a large batch the tenants'
        # own threads keep the throttle busy anyway, where more threads would only cost
        # memory and turns at the interpreter lock.
        self._fan = ThreadPoolExecutor(FAN_THREADS, thread_name_prefix="rollbot-fan")

    def at_once(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Every one of `calls` at the same time, the last on this thread; their results
        in order. An exception is raised once all have ended, the first in order."""
        if not calls:
            return []
        fanned: list[Future[T]] = []
        try:
            # Each in a copy of this thread's context: what a call counts (retries, for
            # the rollout it serves) is counted where the caller counts.
            fanned = [self._fan.submit(contextvars.copy_context().run, c) for c in calls[:-1]]
        except RuntimeError:  # closing: one after another, as the caller asked
            return [call() for call in calls]
        last: Future[T] = Future()
        try:
            last.set_result(calls[-1]())
        except BaseException as exc:
            last.set_exception(exc)
        return [future.result() for future in [*fanned, last]]

    @property
    def timeout(self) -> tuple[float, float]:
        return self.policy.timeout

    def close(self) -> None:
        self.closed.set()
        self._fan.shutdown(wait=False, cancel_futures=True)
        if self.pod_views is not None:
            self.pod_views.close()
        self.api.close()  # type: ignore[no-untyped-call]
