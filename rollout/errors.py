"""rollbot's error tree, so every layer speaks of failures in the domain's words.

    RollbotError
    ├── ConfigError            a wrong rollbot.yaml: names the key and the problem
    │   └── ConfigProblems     (bot.config) every problem of the file at once
    ├── RolloutRefused         the rollout was refused; carries every problem at once
    ├── PlanError              (rollout.plan) the targets asked for cannot be planned
    ├── PermissionDenied       who may not do what, and why
    ├── RolloutConflict        another rollout of the app is active
    ├── UnknownRollout         no rollout with that ID
    ├── InvalidTransition      the action does not apply in the rollout's phase
    ├── StaleRollout           saved by someone else since it was read; re-read and decide again
    ├── ClusterError           the Kubernetes API said no, or could not be reached
    │   ├── TransientClusterError   worth retrying: 429, 5xx, dropped connections (carries delay)
    │   ├── NotFound
    │   ├── Forbidden
    │   └── Conflict            resourceVersion or AlreadyExists
    ├── HelmError              (bot.helm) a helm command failed; carries what helm said
    │   └── ReleaseNotFound    (bot.helm) the tenant has no such Helm release
    ├── RegistryError          the registry could not answer (auth, network, 5xx)
    │   └── RegistryError      (bot.registry) the same, naming the registry and HTTP status
    ├── MetricsUnavailable     Prometheus could not give an error rate
    │   └── MetricsQueryInvalid     because the configured query is wrong
    ├── ChatError              Slack refused a file upload, or could not be reached for it
    ├── ReleaseError           (rollout.release) a release was refused or cannot go on
    │   ├── ReleaseConflict    another release is active: one runs at a time
    │   ├── UnknownRelease     no release with that ID
    │   └── StaleRelease       saved by someone else since it was read
    ├── NoJournal              (bot.terminal.session) no journal where a reading verb looked
    └── JournalError           (bot.store) the journal file cannot be opened or used
        └── SchemaTooNew       the file was written by a newer rollbot

Adapters translate library exceptions into these; the engine decides on retries from the
type alone, never from library details. Errors marked with a module live there, beside the
code that raises them; tests/unit/test_error_tree.py keeps this drawing true.

Outside the tree, on purpose: `EngineStopped`, a RuntimeError. A shutdown is not a refused
request, so no handler written for RollbotError may swallow it as one.
"""

from __future__ import annotations


class RollbotError(Exception):
    """Base of every error rollbot raises on purpose."""


class ConfigError(RollbotError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class RolloutRefused(RollbotError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class PermissionDenied(RollbotError):
    def __init__(self, user: str, action: str, reason: str) -> None:
        super().__init__(reason)
        self.user = user
        self.action = action
        self.reason = reason


class RolloutConflict(RollbotError):
    def __init__(self, app: str, active_id: int) -> None:
        super().__init__(f"rollout #{active_id} of {app} is still active")
        self.app = app
        self.active_id = active_id


class UnknownRollout(RollbotError):
    def __init__(self, rollout_id: int) -> None:
        super().__init__(f"there is no rollout #{rollout_id}")
        self.rollout_id = rollout_id


class InvalidTransition(RollbotError):
    """An action that does not apply to the rollout in its current phase."""


class StaleRollout(RollbotError):
    """Someone saved the rollout since this copy was read; re-read it and decide again."""

    def __init__(self, rollout_id: int, *, given: int, stored: int) -> None:
        super().__init__(
            f"rollout #{rollout_id} changed since it was read "
            f"(this copy is version {given}, the journal has version {stored})"
        )
        self.rollout_id = rollout_id
        self.given = given
        self.stored = stored


class ClusterError(RollbotError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientClusterError(ClusterError):
    def __init__(self, message: str, *, status: int | None = None, delay: float = 1.0) -> None:
        super().__init__(message, status=status)
        self.delay = delay


class NotFound(ClusterError):
    pass


class Forbidden(ClusterError):
    pass


class Conflict(ClusterError):
    pass


class RegistryError(RollbotError):
    pass


class MetricsUnavailable(RollbotError):
    """The metrics system (Prometheus) could not give an error rate; says why."""


class MetricsQueryInvalid(MetricsUnavailable):
    """Prometheus answered, but the configured query is wrong: refused as malformed, or
    its answer is not one share between 0 and 1. Only rollbot.yaml can fix it."""


class ChatError(RollbotError):
    """Slack refused or could not be reached for a call whose failure someone must hear
    of (a file upload); message delivery has its own outbox and retries instead."""


class EngineStopped(RuntimeError):
    """The engine was shut down; the request was not carried out."""
