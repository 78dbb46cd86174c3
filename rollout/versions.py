"""Which semantic-version bump a deploy is, from what runs now to what was asked for.

The guide ties how a version may roll out to its bump (patch: at once; minor: gradually,
a subset first; major: everyone together, in a migration window), and rollbot applies the
app's `versions:` settings for that bump (SPEC section 12). This module only knows the
versions: ordering per semver 2.0 (`v` optional, numeric identifiers compared as numbers,
a prerelease below its release, build metadata ignored) and the bump between two of
them. Pure: stdlib only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

_SEMVER = re.compile(
    r"v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?",
    re.ASCII,
)


class Bump(StrEnum):
    PATCH = "patch"
    MINOR = "minor"
    MAJOR = "major"
    PRERELEASE = "prerelease"  # the same release, a later prerelease of it or the release
    SAME = "same"
    DOWNGRADE = "downgrade"
    UNKNOWN = "unknown"  # what runs is no semantic version (`latest`, `sha-abc`), or nothing

    @property
    def has_rule(self) -> bool:
        """Whether a `versions:` rule of this name can apply."""
        return self in RULED


RULED = (Bump.PATCH, Bump.MINOR, Bump.MAJOR)


@dataclass(frozen=True, order=False)
class Version:
    """A parsed semantic version; compare with :func:`key`."""

    core: tuple[int, int, int]
    prerelease: tuple[str, ...] = ()

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)


def parse(text: str) -> Version | None:
    """`v1.3.0`, `1.3.0-rc.1`, `v2.0.0+build.5`; None for anything else."""
    match = _SEMVER.fullmatch(text.strip())
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    return Version((int(major), int(minor), int(patch)), tuple(pre.split(".")) if pre else ())


def key(version: Version) -> tuple[tuple[int, int, int], int, tuple[tuple[int, int, str], ...]]:
    """A sort key in semver precedence: a release sorts above its prereleases; numeric
    identifiers below alphanumeric ones, numbers by value; more fields win on a tie."""
    fields = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in version.prerelease
    )
    return version.core, 0 if version.prerelease else 1, fields


def bump(current: str | None, requested: str) -> Bump:
    """The bump from `current` (None: nothing known runs) to `requested`."""
    old = parse(current) if current is not None else None
    new = parse(requested)
    if old is None or new is None:
        return Bump.UNKNOWN
    if key(new) == key(old):
        return Bump.SAME
    if key(new) < key(old):
        return Bump.DOWNGRADE
    if new.core == old.core:
        return Bump.PRERELEASE
    if new.core[0] != old.core[0]:
        return Bump.MAJOR
    return Bump.MINOR if new.core[1] != old.core[1] else Bump.PATCH


def tag_of(image: str) -> str:
    """`repo:5000/app:v1.2.3` -> `v1.2.3`; a digest or a bare repository -> ''."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""


def highest(versions: Iterable[str]) -> str | None:
    """The highest semantic version among `versions`; None when there is none."""
    parsed = [(v, parse(v)) for v in versions]
    known = [(text, v) for text, v in parsed if v is not None]
    if not known:
        return None
    return max(known, key=lambda pair: key(pair[1]))[0]


@dataclass(frozen=True)
class Fleet:
    """What runs on the targets: `current` is the highest semantic version found (admin:
    the live side), `others` the targets running anything else, by version."""

    current: str | None
    others: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def of(cls, running: Mapping[str, str]) -> Fleet:
        """From each target's running version (namespace -> tag; '' when unknown)."""
        current = highest(running.values())
        by_version: dict[str, list[str]] = {}
        for namespace, version in sorted(running.items()):
            if version != current:
                by_version.setdefault(version, []).append(namespace)
        others = tuple((v, tuple(names)) for v, names in sorted(by_version.items(),
                                                                 key=_precedence))
        return cls(current=current, others=others)


def _precedence(item: tuple[str, object]) -> tuple[int, object]:
    """Semantic versions first, by precedence; any other tags after, by name."""
    parsed = parse(item[0])
    return (0, key(parsed)) if parsed is not None else (1, item[0])
