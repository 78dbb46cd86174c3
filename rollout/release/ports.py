"""What the release runner needs from the journal, as a Protocol the SQLite file and the
in-memory store both satisfy (``tests/adapters/test_release_journal.py`` holds them to it).
"""

from __future__ import annotations

from typing import Protocol

from rollout.release.model import Release, ReleaseEvent


class ReleaseJournal(Protocol):
    def create_release(self, release: Release) -> Release:
        """Store a new release under the next ID; ReleaseConflict while one is active."""
        ...

    def save_release(self, release: Release) -> Release:
        """Store a new state; StaleRelease when saved since it was read. Returns it with
        lock_version + 1."""
        ...

    def get_release(self, release_id: int) -> Release | None: ...

    def list_releases(
        self, *, active: bool | None = None, version: str | None = None, limit: int = 20
    ) -> list[Release]:
        """Newest first."""
        ...

    def active_release(self) -> Release | None: ...


class ReleaseListener(Protocol):
    """Hears a release's events (Slack, a terminal). Must return quickly."""

    def publish_release(self, event: ReleaseEvent) -> None: ...
