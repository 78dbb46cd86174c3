"""The release's checks (SPEC section 12, "Release checks"): the guide's testing
requirements as commands, and how a command says which package script it runs.

The guide runs the shared packages' `test`, `type-check` and `lint`, then each app's
`build` and `test:e2e`, before a shared package update is deployed. A workspace whose
packages define no `lint` has nothing to lint (and pnpm would fail saying so), so a check
of the shape `pnpm --filter <selector> <script>` runs only where some package it selects
defines that script. The rule reads the command itself, so it holds for the commands an
operator writes in `release.checks` as it does for the guide's; any other command always
runs. Pure: which packages define what is the adapter's to read (``bot/build/checks.py``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

PACKAGE = "{package}"  # in a check: run once per app of the release, as its package name
GUIDE_CHECKS = (
    'pnpm --filter "./shared/packages/**" test',
    'pnpm --filter "./shared/packages/**" type-check',
    'pnpm --filter "./shared/packages/**" lint',
    f"pnpm --filter {PACKAGE} build",
    f"pnpm --filter {PACKAGE} test:e2e",
)
# pnpm's own commands: `pnpm --filter x exec ...` runs no package script.
_PNPM_COMMANDS = frozenset({
    "add", "audit", "bin", "config", "create", "dedupe", "deploy", "dlx", "env", "exec",
    "fetch", "i", "import", "install", "licenses", "link", "list", "ls", "outdated", "pack",
    "patch", "prune", "publish", "rebuild", "remove", "rm", "root", "store", "unlink",
    "up", "update", "why",
})  # fmt: skip
# Shell syntax, or a pnpm filter that selects by dependency or change: the command says
# more than one script in one set of packages, so it is run as written.
_SHELL = re.compile(r"[;&|<>`$\n]")
_GRAPH_FILTER = re.compile(r"\.\.\.|\[|^!|\^")
_SCRIPT = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._-]*")


@dataclass(frozen=True)
class ScriptRun:
    """What `pnpm --filter <selector> <script>` runs: a script, in the packages selected
    by a path (`./shared/packages/**`) or a package name (`@dotmac/*`)."""

    selector: str
    script: str

    @property
    def by_path(self) -> bool:
        return self.selector.startswith(".")


def expand(commands: Sequence[str], packages: Sequence[str]) -> tuple[str, ...]:
    """The checks to run: each command once, in order, and one naming {package} once for
    each of `packages` (the release's apps, in its order)."""
    out: list[str] = []
    for command in commands:
        if PACKAGE in command:
            out += [command.replace(PACKAGE, shlex.quote(p)) for p in packages]
        else:
            out.append(command)
    return tuple(out)


def script_run(command: str) -> ScriptRun | None:
    """The script a `pnpm --filter <selector> <script>` command runs; None for any other
    command, which is then run as it is."""
    if _SHELL.search(command):
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if len(words) < 2 or words[0] != "pnpm":
        return None
    selectors, rest = _filters(words[1:])
    if len(selectors) != 1 or _GRAPH_FILTER.search(selectors[0]) or not rest:
        return None
    script = rest[1] if rest[0] == "run" and len(rest) > 1 else rest[0]
    if script in _PNPM_COMMANDS or script == "run" or not _SCRIPT.fullmatch(script):
        return None
    return ScriptRun(selectors[0], script)


def _filters(words: Sequence[str]) -> tuple[list[str], list[str]]:
    """pnpm's --filter values, and the words from the first that is not an option."""
    selectors: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("--filter", "-F") and i + 1 < len(words):
            selectors.append(words[i + 1])
            i += 2
        elif word.startswith("--filter="):
            selectors.append(word.removeprefix("--filter="))
            i += 1
        elif word.startswith("-"):
            return ["", ""], []  # another option: its arity is unknown, so take no view
        else:
            return selectors, list(words[i:])
    return selectors, []
