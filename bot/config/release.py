"""The `release:` section and each app's `build:` keys of rollbot.yaml (SPEC section 9).

Kept apart from the rollout keys because they describe a different job, the build before
the deploys, and convert to their own domain values (:class:`rollout.release.ReleaseSettings`
and :class:`rollout.release.BuildSpec`). Every value is checked with a sentence that names
what is wrong, as the rest of the file is; paths must stay inside the repository.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from bot.config import checks as check  # `checks` is a key of release:
from bot.config.versions import WindowConfig, window_list
from rollout.release import BuildSpec, ReleaseSettings

_DEFAULTS = ReleaseSettings()
_BUILD_ARG = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def command(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError(f"must be a command to run in the repository, got {check.got(value)}")


def folder(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError(f"must be the path of the pnpm workspace root, got {check.got(value)}")


def inside_repo(value: Any) -> str:
    """A path relative to release.repo that does not climb out of it."""
    if isinstance(value, str) and value.strip():
        path = PurePosixPath(value.strip())
        if not path.is_absolute() and ".." not in path.parts:
            return str(path)
    raise ValueError(
        f"must be a path relative to release.repo, without '..', got {check.got(value)}"
    )


def command_list(value: Any) -> tuple[str, ...]:
    """`release.checks`: commands, each a non-empty string; an empty list runs none."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"must be a list of commands to run in the repository, "
                         f"got {check.got(value)}")
    return tuple(command(v) for v in value)


def app_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of app names, got {check.got(value)}")
    twice = sorted({v for v in value if list(value).count(v) > 1})
    if twice:
        raise ValueError(f"lists {check.got(twice[0])} twice")
    return tuple(value)


def build_args(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping of build argument names to values, "
                         f"got {check.got(value)}")
    args = []
    for name, arg in value.items():
        if not isinstance(name, str) or not _BUILD_ARG.fullmatch(name):
            raise ValueError(f"names {check.got(name)}, which is not a build argument name")
        if name == "VERSION":
            raise ValueError("sets VERSION, which rollbot sets to the release version")
        if isinstance(arg, bool) or not isinstance(arg, str | int | float):
            raise ValueError(f"gives {name} the value {check.got(arg)}; give text or a number")
        args.append((name, str(arg)))
    return tuple(args)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Path = Annotated[str, BeforeValidator(inside_repo)]


class BuildConfig(_Strict):
    """`apps.<app>.build`; unset paths follow the guide's layout, apps/<deployment>/."""

    dockerfile: Path | None = None
    context: Path = "."
    package_json: Path | None = None
    args: Annotated[tuple[tuple[str, str], ...], BeforeValidator(build_args)] = ()

    def spec(self, deployment: str) -> BuildSpec:
        return BuildSpec(
            dockerfile=self.dockerfile or f"apps/{deployment}/Dockerfile",
            context=self.context,
            package_json=self.package_json or f"apps/{deployment}/package.json",
            args=self.args,
        )


class ReleaseConfig(_Strict):
    repo: Annotated[str | None, BeforeValidator(folder)] = None
    install: Annotated[str, BeforeValidator(command)] = _DEFAULTS.install
    shared_build: Annotated[str, BeforeValidator(command)] = _DEFAULTS.shared_build
    order: Annotated[tuple[str, ...], BeforeValidator(app_list)] = ()
    timeout: Annotated[int, BeforeValidator(check.positive_duration)] = _DEFAULTS.timeout_seconds
    checks: Annotated[tuple[str, ...], BeforeValidator(command_list)] = _DEFAULTS.checks
    # when a bump with `window: required` may start (SPEC 12)
    windows: Annotated[tuple[WindowConfig, ...], BeforeValidator(window_list)] = ()

    def settings(self, apps: list[str], *, blue_green: frozenset[str]) -> ReleaseSettings:
        """`order` first, then the apps it leaves out: blue-green ones before the others
        (the guide's default, admin then isp), each in the order the file lists them."""
        rest = [a for a in apps if a not in self.order]
        order = self.order + tuple(sorted(rest, key=lambda a: a not in blue_green))
        return ReleaseSettings(repo=self.repo, install=self.install,
                               shared_build=self.shared_build, checks=self.checks,
                               order=order, timeout_seconds=self.timeout)
