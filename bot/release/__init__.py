"""The release pipeline below the faces: its preflight, the work of each step, the runner
that drives a release off the event loop, and :class:`Releases`, the few calls a face
makes (start, plan, status, list, cancel)."""

from bot.release.service import Releases
from bot.release.work import log_tail
from rollout.release import ReleasePlan

__all__ = ["ReleasePlan", "Releases", "log_tail"]
