"""Scripted failures for the stand-in: 429s, 5xx answers, refusals and dropped connections.

Tests use these to prove the bot retries after `Retry-After`, survives server errors,
gives up on (or works around) what Slack refuses, and never posts a message twice. A rule
is matched by method name and fires on every Nth call, on the first K calls, or with a
probability drawn from its own seeded RNG, so a run is repeatable; an optional `where`
test on the call's arguments narrows the calls a rule counts (say, only the post whose
text asks for approval). The decision is taken before the request touches any state: a
faulted `chat.postMessage` creates no message, except with DROP_AFTER, which does the work
and then loses the answer, as a timeout after Slack has posted does.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ArgsTest = Callable[[Mapping[str, Any]], bool]


class FaultKind(StrEnum):
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After
    SERVER_ERROR = "server_error"  # 500 or 503 (see `status`)
    DROP = "drop"  # close the connection without an answer
    DROP_AFTER = "drop_after"  # do what was asked, then close without an answer (a lost reply)
    API_ERROR = "api_error"  # 200 with {"ok": false, "error": <error>}, as Slack refuses a call


@dataclass
class FaultRule:
    """One scripted failure; `method` is an API method, `response_url`, or `*` for any.

    `error` is the code in the answer's body: what an API_ERROR refuses with (for example
    `invalid_blocks` or `msg_too_long`), and what a SERVER_ERROR says. `where`, if given,
    sees the call's arguments; calls it rejects are neither counted nor failed.
    """

    method: str
    kind: FaultKind
    status: int = 503
    error: str = "fatal_error"
    retry_after: int = 1
    every_nth: int | None = None
    first: int | None = None
    probability: float | None = None
    seed: int = 0
    times: int | None = None
    where: ArgsTest | None = field(default=None, repr=False)
    seen: int = 0
    fired: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        if self.kind is FaultKind.RATE_LIMITED:
            self.status = 429
        elif self.kind is FaultKind.API_ERROR:
            # Slack refuses a call in the body of a successful HTTP answer.
            self.status = 200

    @property
    def refusal(self) -> str | None:
        """The error a recorded call carries: the refusal's code, for an API_ERROR only."""
        return self.error if self.kind is FaultKind.API_ERROR else None

    def applies_to(self, method: str, args: Mapping[str, Any] | None = None) -> bool:
        if self.method not in ("*", method):
            return False
        return self.where is None or self.where(args or {})

    def decide(self) -> bool:
        """Count one matching call and say whether this rule fails it."""
        self.seen += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.first is not None:
            hit = self.seen <= self.first
        elif self.every_nth is not None:
            hit = self.seen % self.every_nth == 0
        elif self.probability is not None:
            hit = self._rng.random() < self.probability
        else:
            hit = True
        if hit:
            self.fired += 1
        return hit


class FaultPlan:
    """The active rules, consulted in the order they were added; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def match(self, method: str, args: Mapping[str, Any] | None = None) -> FaultRule | None:
        """The rule that fails this call, if any; every matching rule still counts it."""
        chosen: FaultRule | None = None
        with self._lock:
            for rule in self._rules:
                if rule.applies_to(method, args) and rule.decide() and chosen is None:
                    chosen = rule
        return chosen
