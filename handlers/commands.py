"""Slash-command text -> a typed command, or a usage error that says what is wrong.

`/deploy ...` and `/rollback ...` from Slack, and `rollbot deploy|status|...` from a
terminal, are parsed here and only here, so both faces accept the same words and refuse
them with the same messages. Pure: no Slack, no cluster, no storage; the configured app
names and the current time come in as arguments.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeAlias

from rollout.actions import CONTROLS, Action
from rollout.options import (
    RolloutOptions,
    UsageError,
    check_namespace,
    clean_text,
    format_options,
    parse_namespaces,
    parse_options,
    parse_version,
    show,
    split_option,
)

DEPLOY = "/deploy"
ROLLBACK = "/rollback"
MAX_TEXT_LENGTH = 1_000
MAX_ROLLOUT_ID = 999_999_999
MAX_APPS_SHOWN = 20

DEPLOY_USAGE = "\n".join(
    [
        "/deploy <app> <version> [batch=N|N%] [wait=DUR] [pilot=N|ns1,ns2] [tenants=ns1,ns2]",
        "        [waves=fixed|double] [at=HH:MM|ISO-8601] [dry-run]",
        "/deploy status [ID]",
        "/deploy list",
        "/deploy history [app]",
        "/deploy health <app> [tenant]",
        "/deploy pause|resume|cancel <ID>",
        "/deploy help",
    ]
)
ROLLBACK_USAGE = "\n".join(
    [
        "/rollback <ID> [tenants=ns1,ns2]",
        "/rollback <app> [to=VERSION] [tenants=ns1,ns2]",
    ]
)

OTHER = "other"  # where an app name was expected: after DEPLOY, after ROLLBACK, or elsewhere
HELP_WORDS = frozenset({"help", "-h", "--help", "?"})
# First words that are never an app name; the config should refuse apps named like these.
RESERVED_WORDS = frozenset({"status", "list", "history", "health", *CONTROLS, *HELP_WORDS})

_ROLLOUT_ID = re.compile(r"#?([0-9]+)", re.ASCII)
# Chat clients "smarten" quotes and people quote values out of shell habit; no valid
# word contains a quote, so they are dropped rather than refused.
_QUOTES = dict.fromkeys(map(ord, "\"'‘’‚‛“”„‟«»`"))


@dataclass(frozen=True)
class Deploy:
    app: str
    version: str
    options: RolloutOptions = field(default_factory=RolloutOptions)


@dataclass(frozen=True)
class Status:
    rollout_id: int | None = None  # None: every active rollout


@dataclass(frozen=True)
class ListActive:
    pass


@dataclass(frozen=True)
class History:
    app: str | None = None


@dataclass(frozen=True)
class Health:
    app: str
    tenant: str | None = None


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Control:
    verb: Action  # one of CONTROLS
    rollout_id: int


@dataclass(frozen=True)
class RollbackRollout:
    """Undo what rollout `rollout_id` changed, on every tenant or only on `tenants`."""

    rollout_id: int
    tenants: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RollbackApp:
    """`kubectl rollout undo` for an app; blue-green switches the Service back."""

    app: str
    to_version: str | None = None
    tenants: tuple[str, ...] | None = None


DeployCommand: TypeAlias = Deploy | Status | ListActive | History | Health | Help | Control
RollbackCommand: TypeAlias = RollbackRollout | RollbackApp | Help


class CommandError(Exception):
    """A refused command: the problem, what to do, and the usage of its command family."""

    def __init__(self, error: UsageError, *, usage: str) -> None:
        super().__init__(error.problem)
        self.error = error
        self.problem = error.problem
        self.hint = error.hint
        self.usage = usage

    @property
    def reply(self) -> str:
        """The whole answer for a person: problem, hint, then the usage lines."""
        first, *rest = self.usage.split("\n")
        usage = "\n".join(["Usage: " + first, *("       " + line for line in rest)])
        return "\n".join(line for line in (self.problem, self.hint, usage) if line)


def parse_deploy(text: str, *, apps: Collection[str], now: datetime) -> DeployCommand:
    """The text after `/deploy` (or after `rollbot`) -> a command; refusals are CommandError."""
    try:
        return _deploy_family(command_words(text), apps=apps, now=now)
    except UsageError as err:
        raise CommandError(err, usage=DEPLOY_USAGE) from None


def parse_rollback(text: str, *, apps: Collection[str], now: datetime) -> RollbackCommand:
    """The text after `/rollback` -> a command; refusals are CommandError."""
    del now  # nothing in /rollback is a time yet; kept so both parsers are called alike
    try:
        return _rollback_family(command_words(text), apps=apps)
    except UsageError as err:
        raise CommandError(err, usage=ROLLBACK_USAGE) from None


def command_words(text: str) -> list[str]:
    """The words of a command, as every parser here reads them: quotes and invisible
    characters dropped, mentions refused, the length bounded."""
    if len(text) > MAX_TEXT_LENGTH:
        raise UsageError(
            f"That command is too long ({len(text):,} characters; the limit is "
            f"{MAX_TEXT_LENGTH:,}).",
            "Shorten it; long tenant lists can use batch= and pilot= instead.",
        )
    # str.split() with no separator also splits on non-breaking spaces and newlines.
    words = clean_text(text).translate(_QUOTES).split()
    for word in words:
        if word.startswith("<") and word.endswith(">"):
            raise UsageError(
                f"{show(word)} is a Slack mention or link; commands take plain words.",
                "Type names and IDs as text.",
            )
    return words


def _deploy_family(words: Sequence[str], *, apps: Collection[str], now: datetime) -> DeployCommand:
    if not words or words[0].lower() in HELP_WORDS:
        return Help()
    verb, rest = words[0].lower(), words[1:]
    if verb == "status":
        _at_most(rest, 1, verb="status", shape="status [ID]")
        return Status(parse_rollout_id(rest[0]) if rest else None)
    if verb == "list":
        _at_most(rest, 0, verb="list", shape="list")
        return ListActive()
    if verb == "history":
        _at_most(rest, 1, verb="history", shape="history [app]")
        return History(_app(rest[0], apps) if rest else None)
    if verb == "health":
        return _health(rest, apps=apps)
    for control in CONTROLS:
        if verb == control:
            _exactly_one(rest, verb=control, shape=f"{control} <ID>")
            return Control(control, parse_rollout_id(rest[0]))
    return _deploy(words, apps=apps, now=now)


def _deploy(words: Sequence[str], *, apps: Collection[str], now: datetime) -> Deploy:
    app = _app(words[0], apps, place=DEPLOY)
    if len(words) < 2:
        raise UsageError(
            f"/deploy {app} needs a version.", f"For example: /deploy {app} v1.3.0 batch=5"
        )
    version = parse_version(words[1])
    return Deploy(app, version, parse_options(words[2:], now=now))


def _health(words: Sequence[str], *, apps: Collection[str]) -> Health:
    if not words:
        raise UsageError("health needs an app.", "For example: /deploy health isp tenant-a")
    _at_most(words[1:], 1, verb="health", shape="health <app> [tenant]")
    app = _app(words[0], apps)
    if len(words) == 1:
        return Health(app)
    try:
        return Health(app, check_namespace(words[1], key="tenant"))
    except UsageError as err:
        raise UsageError(f"{show(words[1])} is not a tenant namespace name.", err.hint) from None


def _rollback_family(words: Sequence[str], *, apps: Collection[str]) -> RollbackCommand:
    if not words or words[0].lower() in HELP_WORDS:
        return Help()
    first, rest = words[0], words[1:]
    if _ROLLOUT_ID.fullmatch(first) and first not in apps:
        given = _rollback_options(rest, valid=("tenants",), by_id=True)
        return RollbackRollout(parse_rollout_id(first), _tenants(given))
    app = _app(first, apps, place=ROLLBACK)
    given = _rollback_options(rest, valid=("to", "tenants"), by_id=False)
    to_version = None
    if "to" in given:
        try:
            to_version = parse_version(given["to"])
        except UsageError as err:
            raise UsageError(f"to: {err.problem}", err.hint) from None
    return RollbackApp(app, to_version, _tenants(given))


def _rollback_options(words: Sequence[str], *, valid: Sequence[str], by_id: bool) -> dict[str, str]:
    given: dict[str, str] = {}
    for word in words:
        if by_id and word.lower().startswith("to="):
            raise UsageError(
                "to= goes with an app, not a rollout ID.",
                "A rollout ID rolls back to what that rollout replaced; "
                "for a chosen version use /rollback <app> to=VERSION.",
            )
        key, value = split_option(word, valid=valid)
        if key in given:
            raise UsageError(f"{key}= is given twice.", "Give each option once.")
        given[key] = value
    return given


def _tenants(given: dict[str, str]) -> tuple[str, ...] | None:
    return parse_namespaces(given["tenants"], key="tenants") if "tenants" in given else None


def parse_rollout_id(word: str) -> int:
    """`42` or `#42` -> 42."""
    match = _ROLLOUT_ID.fullmatch(word)
    if match is None:
        raise UsageError(f"{show(word)} is not a rollout ID.", "Rollout IDs look like 42 or #42.")
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > len(str(MAX_ROLLOUT_ID)) or not 1 <= int(digits) <= MAX_ROLLOUT_ID:
        raise UsageError(
            f"{show(word)} is not a rollout ID; IDs run from 1 to {MAX_ROLLOUT_ID:,}.",
            "The ID is the #number on the rollout's message.",
        )
    return int(digits)


def _app(word: str, apps: Collection[str], *, place: str = OTHER) -> str:
    if word in apps:
        return word
    names = sorted(apps)
    shown = ", ".join(names[:MAX_APPS_SHOWN]) + (", …" if len(names) > MAX_APPS_SHOWN else "")
    listing = f"configured apps: {shown}" if names else "no apps are configured"
    if place == ROLLBACK:
        problem = f"{show(word)} is neither a rollout ID nor an app; {listing}."
    else:
        problem = f"Unknown app {show(word)}; {listing}."
    raise UsageError(problem, _unknown_app_hint(word, names=names, place=place))


def _unknown_app_hint(word: str, *, names: list[str], place: str) -> str:
    if place == DEPLOY and _is_version(word):
        return "Put the app first: /deploy <app> <version>."
    # Subcommand typos (`stauts`) land where an app goes, so suggest those alongside apps.
    choices = [*names, *sorted(RESERVED_WORDS - HELP_WORDS)] if place == DEPLOY else names
    close = difflib.get_close_matches(word[:40].lower(), choices, n=1)
    if close:
        return f"Did you mean {close[0]}?"
    return {
        DEPLOY: "Give an app, then a version: /deploy <app> <version>.",
        ROLLBACK: "Give a rollout ID (#42) or an app.",
        OTHER: "Give one of the configured apps.",
    }[place]


def _is_version(word: str) -> bool:
    try:
        parse_version(word)
    except UsageError:
        return False
    return True


def _at_most(words: Sequence[str], count: int, *, verb: str, shape: str) -> None:
    if len(words) > count:
        extra = show(words[count])
        raise UsageError(f"Unexpected {extra} after {verb}.", f"Write it as /deploy {shape}.")


def _exactly_one(words: Sequence[str], *, verb: str, shape: str) -> None:
    if not words:
        raise UsageError(f"{verb} needs a rollout ID.", f"For example: /deploy {verb} #42")
    _at_most(words, 1, verb=verb, shape=shape)


def format_command(command: DeployCommand | RollbackCommand) -> str:
    """Canonical text of a command, as typed after the slash command; parses back to it."""
    match command:
        case Deploy(app=app, version=version, options=options):
            return " ".join([app, version, *format_options(options)])
        case Status(rollout_id=rollout_id):
            return "status" if rollout_id is None else f"status #{rollout_id}"
        case ListActive():
            return "list"
        case History(app=app):
            return "history" if app is None else f"history {app}"
        case Health(app=app, tenant=tenant):
            return f"health {app}" if tenant is None else f"health {app} {tenant}"
        case Help():
            return "help"
        case Control(verb=verb, rollout_id=rollout_id):
            return f"{verb} #{rollout_id}"
        case RollbackRollout(rollout_id=rollout_id, tenants=tenants):
            return " ".join([f"#{rollout_id}", *_tenant_words(tenants)])
        case RollbackApp(app=app, to_version=to_version, tenants=tenants):
            to_words = [] if to_version is None else [f"to={to_version}"]
            return " ".join([app, *to_words, *_tenant_words(tenants)])
    raise TypeError(f"not a command: {command!r}")


def command_line(command: DeployCommand | RollbackCommand) -> str:
    """The command as a person would type it in Slack, for the audit log and plan headers."""
    slash = ROLLBACK if isinstance(command, RollbackRollout | RollbackApp) else DEPLOY
    return f"{slash} {format_command(command)}"


def _tenant_words(tenants: tuple[str, ...] | None) -> list[str]:
    return [] if tenants is None else ["tenants=" + ",".join(tenants)]
