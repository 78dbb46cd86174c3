"""`HelmReleases` by running the `helm` binary: status, history, values, upgrade, rollback.

Helm has no API to call: its behaviour (three-way merges, hooks, the release records it
keeps as Secrets labelled `owner=helm`) lives in the binary, and a GitOps team's history
must read as if a person had run it. So every call is one `helm` process, run with a
timeout on the engine's worker thread (never on the Slack event loop), its JSON output
read, and its stderr kept as the reason when it fails. Credentials are the kubeconfig
rollbot itself uses (`--kubeconfig`), or, without one, what helm finds itself (in a pod,
the service account).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollout.errors import RollbotError
from rollout.ports import HelmRevision

DEFAULT_TIMEOUT = 120.0  # one helm command; `upgrade` does not wait for the pods (--wait=false)
_STDERR_KEPT = 500  # characters of helm's complaint kept in a reason


class HelmError(RollbotError):
    """A helm command failed, timed out, or could not start; says which and what helm said."""


class ReleaseNotFound(HelmError):
    """The namespace has no release of that name (`helm status` says "release: not found")."""


def said(stderr: str) -> str:
    """Helm's complaint without its `Error: ` prefix, on one line, not too long."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    text = " ".join(lines).removeprefix("Error: ")
    return text if len(text) <= _STDERR_KEPT else text[: _STDERR_KEPT - 1] + "…"


def _revision(entry: Mapping[str, Any], *, values: Mapping[str, object] | None = None
              ) -> HelmRevision:
    return HelmRevision(
        revision=int(entry.get("revision") or 0),
        status=str(entry.get("status") or ""),
        chart=str(entry.get("chart") or ""),
        description=str(entry.get("description") or ""),
        values=values,
    )


@dataclass(frozen=True)
class HelmCli:
    """`binary`: the `helm:` key of the app (a name on PATH or a path)."""

    binary: str = "helm"
    kubeconfig: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def run(
        self, args: Sequence[str], *, namespace: str | None = None, release: str = ""
    ) -> str:
        """Run `helm args...` about `release`; its standard output, or HelmError with
        helm's words (ReleaseNotFound when the release does not exist)."""
        command = [self.binary, *args]
        if namespace is not None:
            command += ["--namespace", namespace]
        if self.kubeconfig:
            command += ["--kubeconfig", self.kubeconfig]
        what = " ".join(["helm", *args[:2]])
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout,
                                  check=False, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise HelmError(f"there is no helm binary {self.binary!r} (the app's `helm:` key)"
                            ) from None
        except PermissionError:
            raise HelmError(f"the helm binary {self.binary!r} cannot be run") from None
        except subprocess.TimeoutExpired:
            raise HelmError(f"`{what}` took longer than {self.timeout:g}s and was stopped"
                            ) from None
        if done.returncode != 0:
            complaint = said(done.stderr) or f"exit code {done.returncode}"
            if complaint == "release: not found" and release:
                where = f" in {namespace}" if namespace else ""
                raise ReleaseNotFound(f"there is no Helm release {release}{where}")
            raise HelmError(f"`{what}` failed: {complaint}")
        return done.stdout

    def _json(self, args: Sequence[str], *, namespace: str, release: str) -> Any:
        out = self.run([*args, "--output", "json"], namespace=namespace, release=release)
        try:
            return json.loads(out or "null")
        except ValueError:
            raise HelmError(f"`helm {' '.join(args[:2])}` printed no JSON: {out[:200]!r}"
                            ) from None

    # --- HelmReleases ---------------------------------------------------------------------

    def status(self, namespace: str, release: str) -> HelmRevision:
        found = self._json(["status", release], namespace=namespace, release=release)
        info = found.get("info") or {}
        return HelmRevision(
            revision=int(found.get("version") or 0),
            status=str(info.get("status") or ""),
            description=str(info.get("description") or ""),
            values=found.get("config") or {},
        )

    def history(self, namespace: str, release: str) -> list[HelmRevision]:
        found = self._json(["history", release, "--max", "256"], namespace=namespace,
                           release=release)
        return sorted((_revision(entry) for entry in found or []), key=lambda r: r.revision)

    def values(self, namespace: str, release: str, *, revision: int) -> Mapping[str, object]:
        found = self._json(["get", "values", release, "--all", "--revision", str(revision)],
                           namespace=namespace, release=release)
        return found if isinstance(found, dict) else {}

    def upgrade(
        self, namespace: str, release: str, *, chart: str, values: Mapping[str, str],
        description: str,
    ) -> int:
        settings = [f"--set={key}={value}" for key, value in values.items()]
        found = self._json(
            ["upgrade", release, chart, "--reuse-values", *settings, "--wait=false",
             "--description", description],
            namespace=namespace, release=release,
        )
        return int(found.get("version") or 0)

    def rollback(self, namespace: str, release: str, *, revision: int) -> int:
        self.run(["rollback", release, str(revision)], namespace=namespace, release=release)
        return self.status(namespace, release).revision

    def check_chart(self, chart: str) -> None:
        self.run(["show", "chart", chart])
