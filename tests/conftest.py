"""Fixtures shared across test folders: the session's fleet of Helm-installed tenants."""

from tests.helm_fleet import helm_fleet

__all__ = ["helm_fleet"]
