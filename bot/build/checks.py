"""The checks step's commands (`release.checks`) in the release's work tree.

Each runs in turn through :func:`bot.build.process.run_command`, so its output goes to the
step's log, and a stop or the step's timeout ends its whole process group, as for the
install and the shared build; the first that fails ends the step. A check that runs a
package script (:func:`rollout.release.checks.script_run`) is left out, and its leaving
out written to the log, when no package it selects in the work tree defines that script.
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot.build.process import run_command
from bot.build.stop import Stop
from rollout.release.checks import ScriptRun, script_run


@dataclass(frozen=True)
class Package:
    path: str  # its folder, relative to the work tree, posix style ("." for the root)
    name: str
    scripts: frozenset[str]


@dataclass(frozen=True)
class ChecksRun:
    ok: bool
    reason: str = ""  # the failing check and how it failed, or how the step ended
    ran: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # no package they select defines the script


def run_checks(
    commands: tuple[str, ...], *, tree: Path, log_path: Path, timeout: float, stop: Stop
) -> ChecksRun:
    """Run `commands` in `tree`, in order, within `timeout` seconds altogether."""
    packages = workspace_packages(tree)
    deadline = time.monotonic() + timeout
    ran: list[str] = []
    skipped: list[str] = []
    for command in commands:
        run = script_run(command)
        if run is not None and not defines(packages, run):
            skipped.append(command)
            _note(log_path, f"rollbot: skipped `{command}`: no package it selects defines a "
                            f"{run.script!r} script\n")
            continue
        left = max(1.0, deadline - time.monotonic())
        outcome = run_command(command, cwd=tree, log_path=log_path, timeout=left, stop=stop)
        ran.append(command)
        if not outcome.ok:
            return ChecksRun(False, outcome.reason, tuple(ran), tuple(skipped))
    if not commands:
        _note(log_path, "rollbot: release.checks lists no checks\n")
    return ChecksRun(True, "", tuple(ran), tuple(skipped))


def workspace_packages(tree: Path) -> list[Package]:
    """Every package.json in the work tree but those inside node_modules."""
    found = []
    for folder, dirs, files in os.walk(tree):
        dirs[:] = [d for d in dirs if d != "node_modules" and not d.startswith(".")]
        if "package.json" not in files:
            continue
        data = _json(Path(folder) / "package.json")
        scripts = data.get("scripts")
        name = data.get("name")
        found.append(Package(
            path=PurePosixPath(Path(folder).relative_to(tree)).as_posix(),
            name=name if isinstance(name, str) else "",
            scripts=frozenset(scripts) if isinstance(scripts, dict) else frozenset(),
        ))  # fmt: skip
    return found


def defines(packages: list[Package], run: ScriptRun) -> bool:
    """Some package the selector picks (by folder or by name, pnpm's globs) has the script."""
    if run.by_path:
        pattern = run.selector.removeprefix("./").rstrip("/") or "."
        selected = [p for p in packages if fnmatch.fnmatchcase(p.path, pattern)]
    else:
        selected = [p for p in packages if fnmatch.fnmatchcase(p.name, run.selector)]
    return any(run.script in p.scripts for p in selected)


def package_name(tree: Path, package_json: str) -> str:
    """How a check names an app's package: its package.json `name`, else its folder as a
    pnpm path selector."""
    name = _json(tree / package_json).get("name")
    if isinstance(name, str) and name:
        return name
    return "./" + PurePosixPath(package_json).parent.as_posix()


def _json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _note(log_path: Path, text: str) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log:
        log.write(text)
