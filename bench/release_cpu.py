"""CPU seconds one side of the release benchmark used, where the work happens.

Wall time alone cannot say why running both image builds at once does or does not pay on
a machine of 2 shared cores. The CPU a side burns can: the client side (pnpm, node, the
docker CLI or rollbot's own Python, every process the bench waited for) and the engine
side (dockerd, which does the classic builder's work and the vfs layer copies, and the
containerd it started). Both are read before and after a side's run; the difference is
that run's. Containers' own processes (a RUN step's shell) hang off containerd's shims,
outside this count; in the fixture they run for milliseconds.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSnapshot:
    client_s: float
    engine_s: float

    def since(self, before: CpuSnapshot) -> dict[str, float]:
        return {"client_s": round(self.client_s - before.client_s, 2),
                "engine_s": round(self.engine_s - before.engine_s, 2)}


def snapshot(engine_pid: int) -> CpuSnapshot:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    engine = sum(_process_cpu(pid) for pid in _tree(engine_pid)) if engine_pid else 0.0
    return CpuSnapshot(usage.ru_utime + usage.ru_stime, engine)


def _tree(root: int) -> list[int]:
    """`root` and its descendants, from each task's children list in /proc."""
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                queue += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue  # the task ended meanwhile
    return found


def _process_cpu(pid: int) -> float:
    """User and system seconds of a live process, with those of its waited-for children."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    # After the name: state is field 3, so utime..cstime (fields 14-17) sit at 11..14.
    return sum(int(f) for f in fields[11:15]) / _TICKS
