"""What tests set to make the API server misbehave, and what they read back.

Faults are decided per request before the handler runs, so a refused write never
changes state. Access rules deny by namespace, verb and resource (globs), both for real
requests (403) and for SelfSubjectAccessReview answers. Counters tally every API request
by verb, route template, concrete path, namespace and resource.
"""

from __future__ import annotations

import fnmatch
import random
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

ACTIONS = ("status", "drop", "latency")


@dataclass
class Fault:
    """A rule: requests whose method/verb and path match may get ``action``.

    ``times`` caps how often it fires (None: always), ``every`` fires on every Nth
    matching request, ``probability`` draws from the sim's seeded RNG."""

    id: int
    path: str = ".*"
    method: str = "*"
    verb: str = "*"
    action: str = "status"
    status: int = 500
    retry_after: float = 1.0
    latency: float = 0.0
    times: int | None = None
    every: int = 1
    probability: float = 1.0
    matched: int = 0
    fired: int = 0
    _regex: re.Pattern[str] = field(default=re.compile(".*"), repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("_regex")
        return out


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self.rules: list[Fault] = []
        self._rng = random.Random(seed)
        self._next = 1

    def add(self, **spec: Any) -> Fault:
        if spec.get("action", "status") not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        unknown = set(spec) - set(Fault.__dataclass_fields__) | (
            set(spec) & {"id", "matched", "fired", "_regex"})
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        fault = Fault(id=self._next, **spec)
        try:
            fault._regex = re.compile(fault.path)
        except re.error as exc:
            raise ValueError(f"bad path pattern {fault.path!r}: {exc}") from None
        if fault.every < 1 or not 0.0 <= fault.probability <= 1.0:
            raise ValueError("every must be >= 1 and probability within 0..1")
        self._next += 1
        self.rules.append(fault)
        return fault

    def remove(self, fault_id: int) -> bool:
        before = len(self.rules)
        self.rules = [f for f in self.rules if f.id != fault_id]
        return len(self.rules) < before

    def clear(self) -> None:
        self.rules.clear()

    def decide(self, method: str, verb: str, path: str) -> Fault | None:
        """The first rule that fires for this request, counting it as fired."""
        for fault in self.rules:
            if fault.method not in ("*", method) or fault.verb not in ("*", verb):
                continue
            if not fault._regex.search(path):
                continue
            fault.matched += 1
            if fault.times is not None and fault.fired >= fault.times:
                continue
            if fault.matched % fault.every:
                continue
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            fault.fired += 1
            return fault
        return None


@dataclass(frozen=True)
class Deny:
    namespace: str = "*"
    verb: str = "*"
    resource: str = "*"

    def covers(self, namespace: str, verb: str, resource: str) -> bool:
        """A rule denying anything in any namespace also denies it cluster-wide (asked
        with no namespace), as RBAC grants in every namespace only by a cluster role."""
        return ((not namespace or fnmatch.fnmatchcase(namespace, self.namespace))
                and fnmatch.fnmatchcase(verb, self.verb)
                and fnmatch.fnmatchcase(resource, self.resource))


class Access:
    """Everything is allowed unless a deny rule covers it."""

    def __init__(self) -> None:
        self.denies: list[Deny] = []

    def deny(self, *, namespace: str = "*", verb: str = "*", resource: str = "*") -> Deny:
        rule = Deny(namespace, verb, resource)
        self.denies.append(rule)
        return rule

    def clear(self) -> None:
        self.denies.clear()

    def allowed(self, namespace: str, verb: str, resource: str) -> bool:
        return not any(d.covers(namespace, verb, resource) for d in self.denies)


class Counters:
    """Request tallies; ``snapshot`` returns plain dicts safe to hand to another thread."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.verbs: Counter[str] = Counter()
        self.routes: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.paths: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.namespaces: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.resources: defaultdict[str, Counter[str]] = defaultdict(Counter)
        # Requests being answered when the tallies are reset still are.
        self.in_flight: int = getattr(self, "in_flight", 0)
        self.peak_in_flight = self.in_flight  # the most at once (watches aside) since

    def enter(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1

    def record(self, *, verb: str, route: str, path: str, namespace: str, resource: str
               ) -> None:
        self.total += 1
        self.verbs[verb] += 1
        self.routes[route][verb] += 1
        self.paths[path][verb] += 1
        if namespace:
            self.namespaces[namespace][verb] += 1
        if resource:
            self.resources[resource][verb] += 1

    def snapshot(self) -> dict[str, Any]:
        def plain(table: defaultdict[str, Counter[str]]) -> dict[str, dict[str, int]]:
            return {k: dict(v) for k, v in table.items()}

        return {"total": self.total, "verbs": dict(self.verbs), "routes": plain(self.routes),
                "paths": plain(self.paths), "namespaces": plain(self.namespaces),
                "resources": plain(self.resources), "peak_in_flight": self.peak_in_flight}
