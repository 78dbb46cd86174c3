"""The release pipeline's own refusals, under :class:`rollout.errors.RollbotError`:

    RollbotError
    └── ReleaseError
        ├── ReleaseConflict     another release is active (one at a time)
        ├── UnknownRelease      no release with that ID
        └── StaleRelease        saved by someone else since it was read
"""

from __future__ import annotations

from rollout.errors import RollbotError


class ReleaseError(RollbotError):
    """A release was refused or could not go on; the message says why."""


class ReleaseConflict(ReleaseError):
    def __init__(self, active_id: int) -> None:
        super().__init__(f"release R{active_id} is still active; one release runs at a time")
        self.active_id = active_id


class UnknownRelease(ReleaseError):
    def __init__(self, release_id: int) -> None:
        super().__init__(f"there is no release R{release_id}")
        self.release_id = release_id


class StaleRelease(ReleaseError):
    def __init__(self, release_id: int, *, given: int, stored: int) -> None:
        super().__init__(f"release R{release_id} was saved by someone else (version {stored}, "
                         f"not {given}); read it again")
        self.release_id = release_id
        self.given = given
        self.stored = stored
