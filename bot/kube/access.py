"""Access reviews: may rollbot do something, asked of the API server before trying it.

Both the preflight (may it list deployments everywhere?) and the shared pod view (may it
list and watch pods everywhere?) ask before taking a cluster-wide path, so that a
namespaced service account keeps working the namespaced way.
"""

from __future__ import annotations

from bot.kube.client import Kube
from bot.kube.wire import path


def can_i(k: Kube, *, verb: str, resource: str, namespace: str, group: str = "apps") -> bool:
    """One SelfSubjectAccessReview; namespace "" asks for every namespace at once."""
    attributes = {"verb": verb, "resource": resource, "group": group}
    if namespace:
        attributes["namespace"] = namespace
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }
    where = f"in {namespace}" if namespace else "in every namespace"
    # Creating a review changes nothing on the server, so retrying it is safe.
    answer = k.retry.call(
        f"can-i {verb} {resource} {where}",
        lambda: k.wire.json(
            "POST",
            path("apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"),
            body=review,
            content_type="application/json",
            timeout=k.timeout,
        ),
        kind="read",
    )
    return bool((answer.get("status") or {}).get("allowed"))
