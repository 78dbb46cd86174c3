"""Session-wide fixtures: the release tests' own Docker engine and registry, started only
when a test asks for them (and how long they took, printed at the end of the run), and
the session's fleet of Helm-installed tenants."""

from __future__ import annotations

import pytest

from tests.fixtures.engine import TIMINGS, docker_engine, registry
from tests.helm_fleet import helm_fleet

__all__ = ["docker_engine", "helm_fleet", "registry"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        times = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in TIMINGS.items())
        terminalreporter.write_line(f"release fixtures: {times}")
