"""`rollbot` runs with glibc's malloc set for many threads: no per-thread caches of freed
blocks.

Each test starts a fresh Python process through rollbot's entry point, then has a dozen
threads allocate and free as a batch's workers do, and looks at what malloc holds while
they live: the bytes still in use once every block was freed (blocks kept in the
threads' caches count as in use).
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
    done.set()
    for t in threads: t.join()
    print(json.dumps({{"held": held, "pid": os.getpid(),
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


def test_threads_keep_no_freed_blocks() -> None:
    # Given rollbot started as a program
    # When a dozen threads allocate and free blocks, and stay alive
    seen = run_child()
    # Then malloc holds next to nothing for them, in the process that was started (it
    # restarted itself in place, with the setting)
    assert seen["held"] < 100_000, seen
    assert seen["pid"] == seen["started_as"]
    assert "glibc.malloc.tcache_count=0" in seen["tunables"]


def test_a_setting_already_in_the_environment_wins() -> None:
    # Given thread caches asked for by whoever starts rollbot
    seen = run_child(GLIBC_TUNABLES="glibc.malloc.tcache_count=7")
    # Then the threads keep what they freed
    assert seen["held"] > 500_000, seen
    assert seen["tunables"] == "glibc.malloc.tcache_count=7"


def test_the_tunable_is_added_to_those_already_set() -> None:
    # Given other tunables set by whoever starts rollbot
    env = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4:glibc.rtld.optional_static_tls=512"}
    # When rollbot adds its own
    tuned = tuned_environment(env)
    # Then the others stay, and rollbot's is added once
    assert tuned is not None
    assert tuned["GLIBC_TUNABLES"] == (
        "glibc.malloc.arena_max=4:glibc.rtld.optional_static_tls=512"
        ":glibc.malloc.tcache_count=0"
    )
    assert tuned_environment(tuned) is None
