"""glibc's allocator, set for a process of hundreds of threads.

rollbot works on hundreds of tenants at once, each on a thread of its own
(`kubernetes.parallel_tenants`). glibc's malloc gives each thread a cache of the blocks it
freed (its tcache: up to seven of each size up to about 1 KB) and threads arenas of their
own, up to eight per core; neither is handed back while the thread lives, and the
engine's threads live as long as the process. In a 10,000-tenant rollout on 500 threads
that memory, freed but held, grew by some 25 MB over the run. Python allocates only
while it holds the GIL, so its threads gain nothing from either: rollbot runs with no
thread caches and two arenas.

glibc reads these settings (its tunables) only as a process starts, so `rollbot` starts
itself again, once, with them added to ``GLIBC_TUNABLES``: the same program, arguments
and environment, in the same process. A setting already in ``GLIBC_TUNABLES`` wins; on
another C library nothing changes.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

TUNABLES = {"glibc.malloc.tcache_count": "0", "glibc.malloc.arena_max": "2"}


def tuned_environment(env: Mapping[str, str]) -> dict[str, str] | None:
    """`env` with the tunables rollbot wants added to ``GLIBC_TUNABLES``; None when every
    one of them is set there already (by rollbot's own restart, or by whoever started it)."""
    current = env.get("GLIBC_TUNABLES", "")
    named = {part.partition("=")[0] for part in current.split(":") if part}
    missing = [f"{name}={value}" for name, value in TUNABLES.items() if name not in named]
    if not missing:
        return None
    return {**env, "GLIBC_TUNABLES": ":".join([*filter(None, [current]), *missing])}


def restart_tuned() -> None:
    """Start this program again with the tunables, unless it has them (see above). Call
    it first thing in the process's entry point: nothing done before it survives."""
    env = tuned_environment(os.environ)
    if env is None or not sys.executable or not _glibc():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, env)


def _glibc() -> bool:
    try:
        return bool(ctypes.CDLL(None).gnu_get_libc_version)
    except (OSError, AttributeError):
        return False
