"""rollbot's Kubernetes adapter: :class:`KubeCluster` implements ``rollout.ports.Cluster``.

Split by concern: ``client`` (connection and credentials), ``errors`` and ``retry`` (how
failures are named and retried), ``deployments``, ``rollout_wait`` and ``history`` (set
image, wait, undo), ``probes`` (health endpoints and logs), ``bluegreen`` (sides and the
Service switch), and ``cluster`` which ties them into the port.
"""

from bot.backoff import RetryPolicy
from bot.kube.cluster import KubeCluster

__all__ = ["KubeCluster", "RetryPolicy"]
