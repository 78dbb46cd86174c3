"""`rollbot` runs with glibc's malloc set for many threads: no per-thread caches of freed
blocks, two arenas.

Each test starts a fresh Python process through rollbot's entry point, then has a dozen
threads allocate and free as a batch's workers do, and looks at what malloc holds while
they live: the bytes held in use once every block was freed (blocks kept in the threads'
caches count as in use), and the arenas beside the main one (glibc puts each in heaps
aligned to 64 MiB, so counting those mappings counts them).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bot.allocator import tuned_environment

REPO = Path(__file__).resolve().parents[2]
THREADS = 12

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc")

CHILD = textwrap.dedent(
    f"""
    import contextlib, ctypes, io, json, os, sys, threading
    sys.argv = ["rollbot", "help"]
    from bot.cli import main
    with contextlib.redirect_stdout(io.StringIO()):
        main()
    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = Info
    freed, done = threading.Barrier({THREADS} + 1), threading.Event()
    def work():
        blocks = [bytes(size) for size in range(600, 1000, 16) for _ in range(7)]
        del blocks
        freed.wait()
        done.wait()
    threads = [threading.Thread(target=work) for _ in range({THREADS})]
    before = mallinfo2().uordblks
    for t in threads: t.start()
    freed.wait()
    held = mallinfo2().uordblks - before
    heaps = 0
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if len(fields) == 5 and start % (64 << 20) == 0 and end - start <= 64 << 20:
                heaps += 1
    done.set()
    for t in threads: t.join()
    print(json.dumps({{"held": held, "heaps": heaps, "pid": os.getpid(),
                      "tunables": os.environ.get("GLIBC_TUNABLES", "")}}))
    """
)


def run_child(**env: str) -> dict[str, Any]:
    base = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD], env=base | {"PYTHONPATH": str(REPO)} | env,
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    result: dict[str, Any] = json.loads(out) | {"started_as": process.pid}
    return result


def test_threads_keep_no_freed_blocks_and_share_two_arenas() -> None:
    # Given rollbot started as a program
    # When a dozen threads allocate and free blocks, and stay alive
    seen = run_child()
    # Then malloc holds next to nothing for them, in at most one arena beside the main
    # one, in the process that was started (it restarted itself in place)
    assert seen["held"] < 100_000, seen
    assert seen["heaps"] <= 1, seen
    assert seen["pid"] == seen["started_as"]


def test_settings_already_in_the_environment_win() -> None:
    # Given thread caches and more arenas asked for by whoever starts rollbot
    seen = run_child(GLIBC_TUNABLES="glibc.malloc.tcache_count=7:glibc.malloc.arena_max=8")
    # Then the threads keep what they freed, each in an arena of its own
    assert seen["held"] > 500_000, seen
    assert seen["heaps"] > 1, seen


def test_the_tunables_are_added_to_those_already_set() -> None:
    # Given another tunable set, and one of rollbot's
    env = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4:glibc.rtld.optional_static_tls=512"}
    # When rollbot adds its own
    tuned = tuned_environment(env)
    # Then the others stay, the one already set keeps its value, and the missing one is added
    assert tuned is not None
    assert tuned["GLIBC_TUNABLES"] == (
        "glibc.malloc.arena_max=4:glibc.rtld.optional_static_tls=512"
        ":glibc.malloc.tcache_count=0"
    )
    assert tuned_environment(tuned) is None
