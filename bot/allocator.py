"""glibc's allocator, set for a process of hundreds of threads.

rollbot works on hundreds of tenants at once, each on a thread of its own
(`kubernetes.parallel_tenants`). glibc's malloc gives each thread a cache of blocks it
freed (its tcache: up to seven of each size up to about 1 KB), handed back only when the
thread ends, and the engine's threads live as long as the process. In a 10,000-tenant
rollout on 500 threads those caches grew by some 25 MB over the run: memory freed, but
held. rollbot runs without them; it was no slower. (Fewer arenas would save a few MB
more, but made the first batch of that rollout half a minute slower.)

glibc reads this setting (a tunable) only as a process starts, so `rollbot` starts itself
again, once, with it added to ``GLIBC_TUNABLES``: the same program, arguments and
environment, in the same process. A value already in ``GLIBC_TUNABLES`` wins; on another
C library nothing changes.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

TUNABLES = {"glibc.malloc.tcache_count": "0"}


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
