"""The monorepo at `release.repo`: is it a pnpm workspace, what does the ref resolve to,
what versions do the apps' package.json files carry there, and a clean work tree of it.

When the repo is a git checkout, everything is read at the ref (default: the git tag equal
to the version) and the work tree is `git archive` of that commit, so nothing uncommitted,
ignored or left over (node_modules, dist/) reaches the build, and the user's checkout is
never touched. A folder that is no git checkout is copied as it is, less node_modules.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

WORKSPACE_FILE = "pnpm-workspace.yaml"
_GIT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Source:
    """What the release builds from: the repo, the ref as asked, the commit it names."""

    repo: Path
    ref: str = ""  # "" when the repo is no git checkout
    revision: str = ""

    @property
    def is_git(self) -> bool:
        return bool(self.revision)


def workspace_problems(repo: str | None) -> list[str]:
    if repo is None:
        return ["release.repo is not set in rollbot.yaml: set it to the monorepo's root "
                "(the folder with pnpm-workspace.yaml)"]
    path = Path(repo)
    if not path.is_dir():
        return [f"release.repo {repo} does not exist (or is not a folder)"]
    if not (path / WORKSPACE_FILE).is_file():
        return [f"release.repo {repo} is not a pnpm workspace: it has no {WORKSPACE_FILE}"]
    return []


def resolve(repo: Path, *, ref: str | None, version: str) -> tuple[Source | None, list[str]]:
    """The source to build, or the problems that stop it."""
    if not _is_git(repo):
        if ref is not None:
            return None, [f"ref={ref} needs a git checkout, and {repo} is not one"]
        return Source(repo), []
    wanted = ref or version
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{wanted}^{{commit}}")
    if found.returncode != 0:
        if ref is None:
            return None, [f"{repo} has no git tag {version}: tag the release commit "
                          f"(git tag {version}) or name one with ref="]
        return None, [f"ref={ref} names no tag, branch or commit in {repo}"]
    return Source(repo, ref=wanted, revision=found.stdout.strip()), []


def package_version_problems(source: Source, package_json: str, *, version: str) -> list[str]:
    """The guide's versioning rule: the app's package.json carries the release version."""
    at = f" at {source.ref}" if source.is_git else ""
    try:
        text = _read(source, package_json)
    except FileNotFoundError:
        return [f"{package_json} does not exist in {source.repo}{at}"]
    try:
        data = json.loads(text)
    except ValueError:
        return [f"{package_json}{at} is not valid JSON"]
    found = data.get("version") if isinstance(data, dict) else None
    wanted = version.removeprefix("v")
    if not isinstance(found, str) or found.removeprefix("v") != wanted:
        return [f"{package_json}{at} has version {found!r}, not {wanted!r}: set "
                f'"version": "{wanted}" in {package_json}' + (" and commit it" if at else "")]
    return []


def make_work_tree(source: Source, dest: Path) -> None:
    """A fresh copy of the source at `dest` (emptied first)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if not source.is_git:
        shutil.copytree(source.repo, dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("node_modules", ".git"))
        return
    archive = subprocess.Popen(["git", "-C", str(source.repo), "archive", source.revision],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert archive.stdout is not None
    with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
        tar.extractall(dest, filter="data")
    _, err = archive.communicate(timeout=_GIT_TIMEOUT)
    if archive.returncode != 0:
        raise OSError(f"git archive {source.revision} failed: {err.decode(errors='replace')}")


def _read(source: Source, path: str) -> str:
    if not source.is_git:
        return (source.repo / path).read_text(encoding="utf-8")
    shown = _git(source.repo, "show", f"{source.revision}:{path}")
    if shown.returncode != 0:
        raise FileNotFoundError(path)
    return shown.stdout


def _is_git(repo: Path) -> bool:
    inside = _git(repo, "rev-parse", "--is-inside-work-tree")
    top = _git(repo, "rev-parse", "--show-toplevel")
    # A repo folder nested in some other checkout is not itself a git checkout.
    return inside.returncode == 0 and Path(top.stdout.strip()).resolve() == repo.resolve()


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          timeout=_GIT_TIMEOUT, check=False)
