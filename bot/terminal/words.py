"""The words of the terminal verbs: `--flags`, rollout IDs, and refusals for a shell.

The slash-command words (`batch=5`, `tenants=a,b`) are parsed by :mod:`handlers.commands`,
the one grammar both faces share; this module only adds what a shell has and Slack does
not (the flags each verb lists in :mod:`bot.cli`'s table, such as `--as USER`) and
rewrites refusals so their usage lines and examples say `rollbot deploy` rather than
`/deploy`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.cli import VERBS
from bot.plain import plain
from handlers.commands import (
    DEPLOY,
    ROLLBACK,
    CommandError,
    Deploy,
    RollbackCommand,
    parse_deploy,
    parse_rollback,
    parse_rollout_id,
)
from handlers.release_commands import RELEASE
from rollout.options import UsageError, show


def usage_of(verb: str) -> str:
    """The usage lines of a verb of the terminal face, as :mod:`bot.cli`'s table has them."""
    return VERBS[verb].usage


def refusal(verb: str, problem: str, hint: str | None = None) -> CommandError:
    return CommandError(UsageError(problem, hint), usage=usage_of(verb))


def shell(text: str) -> str:
    """Slack text for a shell: plain, and `/deploy ...` as `rollbot deploy ...`."""
    for slash in (DEPLOY, ROLLBACK, RELEASE):
        text = text.replace(f"{slash} ", f"rollbot {slash.removeprefix('/')} ")
    return plain(text)


def for_terminal(verb: str, error: CommandError) -> CommandError:
    """A refusal from the shared parser, reworded for a shell: plain text, `rollbot` verbs."""
    hint = shell(error.hint) if error.hint is not None else None
    return CommandError(UsageError(shell(error.problem), hint), usage=usage_of(verb))


@dataclass(frozen=True)
class Args:
    """One verb's arguments: the slash-command words, and the shell flags given."""

    verb: str
    words: tuple[str, ...]
    flags: dict[str, str | bool] = field(default_factory=dict)

    def flag(self, name: str) -> bool:
        return bool(self.flags.get(name))

    def value(self, name: str) -> str | None:
        found = self.flags.get(name)
        return found if isinstance(found, str) else None


def split_args(verb: str, args: Sequence[str]) -> Args:
    """Separate `--flag` / `--flag VALUE` / `--flag=VALUE` from the slash-command words."""
    known = VERBS[verb].flags
    words: list[str] = []
    flags: dict[str, str | bool] = {}
    items = iter(args)
    for arg in items:
        if not arg.startswith("--"):
            words.append(arg)
            continue
        name, eq, inline = arg.partition("=")
        if f"{name}=" in known:
            value = inline if eq else next(items, "")
            if not value or value.startswith("--"):
                raise refusal(verb, f"{name} needs a value.", f"For example: {name} U0BOB")
            flags[name] = value
        elif name in known and not eq:
            flags[name] = True
        elif name in known:
            raise refusal(verb, f"{name} takes no value.", f"Write {name} alone, or leave it out.")
        else:
            offered = ", ".join(f.rstrip("=") for f in known) or "none"
            raise refusal(verb, f"Unknown option {plain(show(arg))}.", f"Options: {offered}.")
    return Args(verb=verb, words=tuple(words), flags=flags)


def now() -> datetime:
    return datetime.now(UTC)


def deploy_words(args: Args, *, apps: Collection[str]) -> Deploy:
    """`<app> <version> [options]` through the slash-command parser."""
    if not args.words:
        raise refusal(args.verb, f"{args.verb} needs an app and a version.",
                      f"For example: rollbot {args.verb} isp v1.3.0 batch=5")
    try:
        command = parse_deploy(" ".join(args.words), apps=apps, now=now())
    except CommandError as err:
        raise for_terminal(args.verb, err) from None
    if not isinstance(command, Deploy):
        raise refusal(args.verb, f"{args.verb} takes <app> <version> [options].",
                      f"For example: rollbot {args.verb} isp v1.3.0 batch=5")
    return command


def rollback_words(args: Args, *, apps: Collection[str]) -> RollbackCommand:
    if not args.words:
        raise refusal(args.verb, f"{args.verb} needs a rollout ID or an app.",
                      f"For example: rollbot {args.verb} 42")
    try:
        return parse_rollback(" ".join(args.words), apps=apps, now=now())
    except CommandError as err:
        raise for_terminal(args.verb, err) from None


def rollout_id(args: Args) -> int:
    """The one `<ID>` a verb takes (`42` or `#42`)."""
    found = optional_rollout_id(args)
    if found is None:
        raise refusal(args.verb, f"{args.verb} needs a rollout ID.",
                      f"For example: rollbot {args.verb} 42")
    return found


def optional_rollout_id(args: Args) -> int | None:
    """`[ID]`: None when no words were given."""
    if not args.words:
        return None
    if len(args.words) > 1:
        raise refusal(args.verb, f"Unexpected {plain(show(args.words[1]))} after the rollout ID.")
    try:
        return parse_rollout_id(args.words[0])
    except UsageError as err:
        raise refusal(args.verb, plain(err.problem), err.hint) from None


def person(args: Args, *, required: bool, default: str) -> str:
    """Who acts: `--as USER`, else the default (ROLLBOT_USER or the login name)."""
    given = args.value("--as")
    if given is None and required:
        raise refusal(args.verb, f"Say who {args.verb}s with --as <USER>.",
                      f"For example: rollbot {args.verb} 42 --as U0BOB")
    return given or default
