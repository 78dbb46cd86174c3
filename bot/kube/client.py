"""One shared, thread-safe connection to the API server and the typed APIs built on it.

The engine updates a batch of tenants from worker threads at once, so the urllib3 pool is
sized for that; urllib3's own retries are switched off so that the only retries are the
bounded, counted ones of :mod:`bot.kube.retry`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from bot.kube.retry import Retrier, RetryPolicy
from bot.kube.seen import Seen
from bot.kube.watched import Watches
from rollout.errors import ConfigError

DEFAULT_POOL_SIZE = 64


def kubeconfig_configuration(
    path: str | None = None, *, context: str | None = None
) -> client.Configuration:
    """Read a kubeconfig (``$KUBECONFIG`` or ~/.kube/config when ``path`` is None)."""
    configuration = client.Configuration()
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


def in_cluster_configuration() -> client.Configuration:
    """The service account credentials Kubernetes mounts into the bot's pod."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        raise ConfigError("in-cluster", str(exc)) from exc
    return configuration


def api_client(
    configuration: client.Configuration, *, pool_size: int = DEFAULT_POOL_SIZE
) -> client.ApiClient:
    configuration.connection_pool_maxsize = pool_size
    configuration.retries = 0
    return client.ApiClient(configuration)


@dataclass
class Kube:
    """What every operation needs: the typed APIs, the retrier, request timeouts, what
    was last seen of each deployment (see :mod:`bot.kube.seen`) and what each rollout wait
    in progress has learnt of its new pods (see :mod:`bot.kube.watched`)."""

    api: client.ApiClient
    policy: RetryPolicy
    closed: threading.Event = field(default_factory=threading.Event)
    seen: Seen = field(default_factory=Seen)
    watches: Watches = field(default_factory=Watches)

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.authz = client.AuthorizationV1Api(self.api)
        self.retry = Retrier(self.policy, self.closed)

    @property
    def timeout(self) -> tuple[float, float]:
        return self.policy.timeout

    def close(self) -> None:
        self.closed.set()
        self.api.close()  # type: ignore[no-untyped-call]
