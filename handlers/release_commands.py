"""`/release ...` and `rollbot release ...` text -> a typed command, or a usage error.

The words of a release itself are :func:`rollout.release.parse_release`'s; this adds the
verbs around it (status, list, cancel, help) and the usage lines, the same for Slack and
the terminal. Pure: the configured app names and the time come in as arguments.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from handlers.commands import HELP_WORDS, CommandError, Help, command_words
from rollout.options import UsageError, show
from rollout.release import ReleaseRequest, format_release, parse_release

RELEASE = "/release"
RELEASE_USAGE = "\n".join(
    [
        "/release <version> [apps=admin,isp] [ref=GIT_REF] [build-only] [dry-run]",
        "         [skip-checks]: leave out the checks (approvers of every app only)",
        "         [<deploy options>: batch=N wait=DUR pilot=N ...]",
        "/release status [ID]",
        "/release list",
        "/release cancel <ID>",
        "/release help",
    ]
)
MAX_RELEASE_ID = 999_999_999
_RELEASE_ID = re.compile(r"[#Rr]?([0-9]+)", re.ASCII)


@dataclass(frozen=True)
class StartRelease:
    request: ReleaseRequest


@dataclass(frozen=True)
class ReleaseStatus:
    release_id: int | None = None  # None: the latest release


@dataclass(frozen=True)
class ListReleases:
    pass


@dataclass(frozen=True)
class CancelRelease:
    release_id: int


ReleaseAsk: TypeAlias = StartRelease | ReleaseStatus | ListReleases | CancelRelease
ReleaseCommand: TypeAlias = ReleaseAsk | Help


def parse_release_command(text: str, *, apps: Collection[str], now: datetime) -> ReleaseCommand:
    """The text after `/release` -> a command; refusals are CommandError with the usage."""
    try:
        return _release_family(command_words(text), apps=apps, now=now)
    except UsageError as err:
        raise CommandError(err, usage=RELEASE_USAGE) from None


def _release_family(
    words: Sequence[str], *, apps: Collection[str], now: datetime
) -> ReleaseCommand:
    verb, rest = (words[0].lower(), words[1:]) if words else ("", [])
    if verb in HELP_WORDS:
        return Help()
    if verb == "status":
        _at_most(rest, 1, shape="status [ID]")
        return ReleaseStatus(parse_release_id(rest[0]) if rest else None)
    if verb == "list":
        _at_most(rest, 0, shape="list")
        return ListReleases()
    if verb == "cancel":
        if not rest:
            raise UsageError("cancel needs a release ID.", "For example: /release cancel R7")
        _at_most(rest, 1, shape="cancel <ID>")
        return CancelRelease(parse_release_id(rest[0]))
    return StartRelease(parse_release(words, apps=apps, now=now))


def parse_release_id(word: str) -> int:
    """`R7`, `7` or `#7` -> 7."""
    match = _RELEASE_ID.fullmatch(word)
    digits = (match.group(1).lstrip("0") or "0") if match else ""
    if not digits or len(digits) > len(str(MAX_RELEASE_ID)) or int(digits) < 1:
        raise UsageError(f"{show(word)} is not a release ID.",
                         "Release IDs look like R7, as the release's message shows them.")
    return int(digits)


def _at_most(words: Sequence[str], count: int, *, shape: str) -> None:
    if len(words) > count:
        raise UsageError(f"Unexpected {show(words[count])} after {shape.split(maxsplit=1)[0]}.",
                         f"Write it as {RELEASE} {shape}.")


def release_line(request: ReleaseRequest) -> str:
    """The release as a person would type it in Slack, for replies and the audit log."""
    return f"{RELEASE} {format_release(request)}"
