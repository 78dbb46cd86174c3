"""A rollbot process that starts one release and drives it until it is killed: the test
of a crash during the build kills it with SIGKILL. Configuration, journal, cluster, Docker
engine and registry credentials come from the environment, as for `rollbot serve`."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime

from bot.config import load_config
from bot.release import Releases
from bot.runtime import build_runtime
from rollout.release import parse_release


def main() -> None:
    config = load_config()
    runtime = build_runtime(config=config)
    releases = Releases(config=config, runtime=runtime)
    request = parse_release(sys.argv[1:], apps=list(config.apps), now=datetime.now(UTC))
    started = releases.start(request, user="U0ALICE")
    print(f"started {started.label}", flush=True)
    threading.Event().wait()  # until killed


if __name__ == "__main__":
    main()
