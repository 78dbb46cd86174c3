"""Run a Sim on a background thread with its own event loop, for sync tests and demos.

Every ``SimHandle`` method marshals onto the sim's loop and waits (bounded) for the
answer, so calling from any thread is safe. ``SimHandle.kubeconfig`` points kubectl and
the ``kubernetes`` client at the sim.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self, TypeVar

import yaml

from sim.kube.server import Sim, serve
from sim.kube.store import Snapshot

T = TypeVar("T")
CALL_TIMEOUT = 30.0


def write_kubeconfig(path: Path, url: str, *, name: str = "rollbot-sim") -> Path:
    """A kubeconfig for ``url``: plain http, a token user, current context ``name``."""
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": url}}],
        "users": [{"name": name, "user": {"token": "rollbot-sim-token"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name,
                                                 "namespace": "default"}}],
        "current-context": name,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class SimHandle:
    """A running sim seen from another thread."""

    def __init__(self, sim: Sim, loop: asyncio.AbstractEventLoop, thread: threading.Thread,
                 kubeconfig: Path, tmpdir: Path | None) -> None:
        self.sim, self._loop, self._thread = sim, loop, thread
        self.url = sim.url
        self.kubeconfig = kubeconfig
        self._tmpdir = tmpdir

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the sim's loop and return its result."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the calling thread
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=CALL_TIMEOUT)

    def counters(self) -> dict[str, Any]:
        return self.call(self.sim.counters.snapshot)

    def reset_counters(self) -> None:
        self.call(self.sim.counters.reset)

    def add_fault(self, **spec: Any) -> dict[str, Any]:
        """See ``sim.kube.faults.Fault`` for the fields (path, method, verb, action, ...)."""
        return self.call(self.sim.add_fault, **spec)

    def clear_faults(self) -> None:
        self.call(self.sim.faults.clear)

    def set_behaviour(self, namespace_glob: str, tag_glob: str, behaviour: str,
                      **params: float) -> None:
        self.call(self.sim.set_behaviour, namespace_glob, tag_glob, behaviour, **params)

    def clear_behaviours(self) -> None:
        self.call(self.sim.clear_behaviours)

    def deny_access(self, *, namespace: str = "*", verb: str = "*", resource: str = "*"
                    ) -> None:
        self.call(self.sim.deny_access, namespace=namespace, verb=verb, resource=resource)

    def clear_access(self) -> None:
        self.call(self.sim.access.clear)

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.call(self.sim.get, kind, namespace, name)

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.call(self.sim.list, kind, namespace)

    def summary(self) -> dict[str, Any]:
        return self.call(self.sim.summary)

    def rolled_out(self, namespace: str, name: str) -> bool:
        return self.call(self.sim.rolled_out, namespace, name)

    def wait_until(self, predicate: Callable[[], bool], *, timeout: float = 10.0,
                   interval: float = 0.01) -> None:
        """Poll ``predicate`` (run on the sim's loop) until true; TimeoutError after."""
        deadline = time.monotonic() + timeout
        while not self.call(predicate):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(interval)

    def snapshot(self) -> Snapshot:
        """Everything the sim holds now, to start other sims from (``start_sim(snapshot=)``)."""
        return self.call(self.sim.store.snapshot)

    def stop(self) -> None:
        if self._thread.is_alive():
            done = asyncio.run_coroutine_threadsafe(self.sim.stop(), self._loop)
            done.result(timeout=CALL_TIMEOUT)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=CALL_TIMEOUT)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left (open handlers) so the loop closes without warnings."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def start_sim(*, tenants: int = 0, ready_delay: float = 0.05, deadline_scale: float = 1.0,
              kubeconfig_path: Path | None = None, port: int = 0, apps: bool = True,
              snapshot: Snapshot | None = None) -> SimHandle:
    """Start a seeded sim on a daemon thread; stop it with ``.stop()`` or ``with``. See
    :func:`sim.kube.server.serve` for `apps` and `snapshot`."""
    started: concurrent.futures.Future[Sim] = concurrent.futures.Future()
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            sim = loop.run_until_complete(serve(
                tenants=tenants, ready_delay=ready_delay, deadline_scale=deadline_scale,
                port=port, apps=apps, snapshot=snapshot))
        except BaseException as exc:
            started.set_exception(exc)
            _drain(loop)
            return
        started.set_result(sim)
        loop.run_forever()
        _drain(loop)

    thread = threading.Thread(target=run, name="rollbot-sim", daemon=True)
    thread.start()
    sim = started.result(timeout=CALL_TIMEOUT)
    tmpdir = None
    if kubeconfig_path is None:
        tmpdir = Path(tempfile.mkdtemp(prefix="rollbot-sim-"))
        kubeconfig_path = tmpdir / "kubeconfig"
    write_kubeconfig(kubeconfig_path, sim.url)
    return SimHandle(sim, loop, thread, kubeconfig_path, tmpdir)
