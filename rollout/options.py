"""The option words of a rollout (`batch=5 wait=1m pilot=2 ... dry-run`), parsed once.

Slack's `/deploy` and the terminal's `rollbot deploy` accept the same words, so the
grammar lives here, in the domain, and both faces call it. Every refusal is a
:class:`UsageError` that names the offending word; nothing else escapes for any input
text, which the property tests hold us to. Pure: stdlib only, no I/O, time comes in as
``now``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

MAX_DURATION_SECONDS = 7 * 24 * 3600
MAX_COUNT = 10_000  # batch sizes and pilot counts; far above any real fleet
MAX_SCHEDULE_AHEAD = timedelta(days=30)
MAX_VERSION_LENGTH = 128  # an image tag may not be longer
MAX_NAMESPACE_LENGTH = 63

# Options that take a value (`batch=5`), and flags that are a word alone (`dry-run`). A key
# is in exactly one of the two: a flag given a value is refused, never read as the flag or
# dropped, so `dry-run=false` cannot start a real rollout.
VALUE_KEYS = ("batch", "wait", "pilot", "tenants", "waves", "at")
DRY_RUN_WORDS = frozenset({"dry-run", "--dry-run", "dryrun", "dry_run"})  # the one flag
OPTION_KEYS = (*VALUE_KEYS, "dry-run")  # every option word, for usage hints

# re.ASCII everywhere: `\d` would otherwise accept Arabic-Indic and other Unicode digits.
_SEMVER = re.compile(
    r"v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*)?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?",
    re.ASCII,
)
_DURATION = re.compile(r"(?:([0-9]{1,7})h)?(?:([0-9]{1,9})m)?(?:([0-9]{1,9})s)?", re.ASCII)
_COUNT = re.compile(r"[0-9]{1,9}", re.ASCII)
_PERCENT = re.compile(r"([0-9]{1,9})%", re.ASCII)
_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?", re.ASCII)
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", re.ASCII)
_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII,
)
_T = TypeVar("_T")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


class UsageError(ValueError):
    """Input a person typed that rollbot refuses: what is wrong, and what to do instead."""

    def __init__(self, problem: str, hint: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


def show(token: str, *, limit: int = 40) -> str:
    """A user's word, quoted for a message: shortened, control characters made visible."""
    short = token if len(token) <= limit else token[: limit - 1] + "…"
    visible = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in short)
    # A backtick inside would end Slack's code span early.
    return "`" + visible.replace("`", "'") + "`"


def clean_text(text: str) -> str:
    """Drop zero-width characters that chat clients paste invisibly into words."""
    return text.translate(_ZERO_WIDTH)


def parse_version(text: str) -> str:
    """`v` + semantic version 2.0: v1.3.0, v1.3.1-rc.1, v2.0.0+build.5."""
    if len(text) <= MAX_VERSION_LENGTH and _SEMVER.fullmatch(text):
        return text
    hint = "Use v + a semantic version: v1.3.0, v1.3.1-rc.1."
    if _SEMVER.fullmatch("v" + text):
        hint = f"Add the leading v: v{text}."
    raise UsageError(f"{show(text)} is not a version; versions look like v1.3.0.", hint)


def parse_duration(text: str) -> int:
    """`30s`, `5m`, `1h30m`, `0s` -> seconds; units are required, the cap is 7 days."""
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        hint = "Durations look like 30s, 5m or 1h30m."
        if _COUNT.fullmatch(text):
            hint = f"Add a unit: {text}s, {text}m or {text}h."
        raise UsageError(f"{show(text)} is not a duration.", hint)
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total > MAX_DURATION_SECONDS:
        raise UsageError(
            f"{show(text)} is too long; durations are capped at 7 days (168h).",
            "Pick a shorter duration, or schedule the rollout with at=.",
        )
    return total


def format_duration(seconds: float) -> str:
    """A duration as rollbot writes it everywhere, in messages and in commands alike:
    45s, 5m30s, 1h30m. It is the form `wait=` takes, so what is shown can be typed back
    (the inverse of :func:`parse_duration`). Fractions round to the second; a negative
    duration, which only clocks that disagree can make, shows as 0s."""
    hours, rest = divmod(max(0, round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or "0s"


def format_elapsed(seconds: float) -> str:
    """A measured time, as a person reads it: tenths under 10 s (`0.4s`, `3.2s`), where a
    tenant's patch-to-healthy usually falls and whole seconds would all read 0s or 1s;
    from 10 s on as :func:`format_duration`."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f}s"
    return format_duration(seconds)


@dataclass(frozen=True)
class BatchSpec:
    """How many tenants a batch holds: a fixed count, or a share of the fleet."""

    size: int | None = None
    percent: int | None = None

    def __post_init__(self) -> None:
        if (self.size is None) == (self.percent is None):
            raise ValueError("a batch is either a size or a percent, exactly one")
        if self.size is not None and not 1 <= self.size <= MAX_COUNT:
            raise ValueError(f"a batch holds 1 to {MAX_COUNT:,} tenants, not {self.size}")
        if self.percent is not None and not 1 <= self.percent <= 100:
            raise ValueError(f"a batch share is 1% to 100%, not {self.percent}%")

    def resolve(self, total: int) -> int:
        """Tenants per batch in a fleet of `total`: the share rounded up, at least 1."""
        if total < 0:
            raise ValueError("a fleet cannot have fewer than 0 tenants")
        if self.size is not None:
            return max(1, min(self.size, total))
        assert self.percent is not None
        return max(1, math.ceil(total * self.percent / 100))

    @property
    def text(self) -> str:
        return f"{self.percent}%" if self.percent is not None else str(self.size)


def parse_batch(text: str) -> BatchSpec:
    """`5` (tenants per batch) or `10%` (share of the fleet)."""
    percent = _PERCENT.fullmatch(text)
    if percent:
        value = int(percent.group(1))
        if not 1 <= value <= 100:
            raise UsageError(f"{show(text)} is out of range; a share is 1% to 100%.")
        return BatchSpec(percent=value)
    if not _COUNT.fullmatch(text):
        raise UsageError(
            f"{show(text)} is not a batch size.", "Give a count (batch=5) or a share (batch=10%)."
        )
    size = int(text)
    if size < 1:
        raise UsageError(
            f"{show(text)} tenants per batch would never finish.", "Use batch=1 or more."
        )
    if size > MAX_COUNT:
        raise UsageError(f"{show(text)} is too large; the limit is {MAX_COUNT:,} tenants.")
    return BatchSpec(size=size)


class Waves(StrEnum):
    FIXED = "fixed"  # `batch` tenants per batch, as the guide's script does
    DOUBLE = "double"  # 1, 2, 4, 8, ... after the pilots, capped by `batch`


@dataclass(frozen=True)
class RolloutOptions:
    """What a command asked for; None everywhere means "as the app's config says"."""

    batch: BatchSpec | None = None
    wait: int | None = None  # seconds between batches
    pilot_count: int | None = None
    pilot_tenants: tuple[str, ...] | None = None
    tenants: tuple[str, ...] | None = None
    waves: Waves | None = None
    at: datetime | None = None  # aware, UTC
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.pilot_count is not None and self.pilot_tenants is not None:
            raise ValueError("pilots are a count or a list of tenants, not both")
        if self.at is not None and self.at.utcoffset() is None:
            raise ValueError("`at` must be timezone-aware")


def parse_namespaces(text: str, *, key: str) -> tuple[str, ...]:
    """`ns1,ns2`: distinct Kubernetes namespace names (RFC 1123 labels), order kept."""
    names = text.split(",")
    seen: set[str] = set()
    for name in names:
        check_namespace(name, key=key)
        if name in seen:
            raise UsageError(f"{key}= names {show(name)} twice.", "List each tenant once.")
        seen.add(name)
    return tuple(names)


def check_namespace(name: str, *, key: str) -> str:
    """Refuse anything Kubernetes would not accept as a namespace name."""
    if not name:
        raise UsageError(f"{key}= has an empty tenant name.", "Separate names with single commas.")
    if len(name) > MAX_NAMESPACE_LENGTH or not _LABEL.fullmatch(name):
        hint = "Namespace names are up to 63 lowercase letters, digits and '-'."
        if name.lower() != name and _LABEL.fullmatch(name.lower()):
            hint = f"Namespace names are lowercase: {name.lower()}."
        raise UsageError(f"{show(name)} in {key}= is not a namespace name.", hint)
    return name


def parse_at(text: str, *, now: datetime) -> datetime:
    """`14:30` (the next 14:30 UTC after now) or an ISO-8601 time with an offset."""
    now = now.astimezone(UTC)
    clock = _CLOCK.fullmatch(text)
    if clock:
        start = now.replace(hour=int(clock[1]), minute=int(clock[2]), second=0, microsecond=0)
        return start if start > now else start + timedelta(days=1)
    start = _parse_iso(text)
    if start <= now:
        raise UsageError(
            f"{show(text)} is in the past (it is now {now:%Y-%m-%d %H:%M} UTC).",
            "Give a time in the future.",
        )
    if start - now > MAX_SCHEDULE_AHEAD:
        raise UsageError(
            f"{show(text)} is more than 30 days away.", "Schedule it at most 30 days ahead."
        )
    return start


def _parse_iso(text: str) -> datetime:
    hint = "Use HH:MM (UTC) or a full time such as 2026-12-01T14:30:00Z."
    match = _ISO.fullmatch(text)
    if match is None:
        raise UsageError(f"{show(text)} is not a time.", hint)
    if match.group(1) is None:
        raise UsageError(f"{show(text)} has no UTC offset.", "End it with Z or an offset: +02:00.")
    try:
        return datetime.fromisoformat(text.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        raise UsageError(f"{show(text)} is not a real date and time.", hint) from None


def format_at(at: datetime) -> str:
    """Canonical ISO-8601 text in UTC, with a Z."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_options(tokens: Sequence[str], *, now: datetime) -> RolloutOptions:
    """Option words -> RolloutOptions; the first bad word is refused with a UsageError."""
    if now.utcoffset() is None:
        raise ValueError("`now` must be timezone-aware")
    given: dict[str, str] = {}
    dry_run = False
    for token in tokens:
        if token.lower() in DRY_RUN_WORDS:
            if dry_run:
                raise UsageError("dry-run is given twice.", "Give each option once.")
            dry_run = True
            continue
        refuse_flag_value(token, flags=DRY_RUN_WORDS)
        key, value = split_option(token, valid=OPTION_KEYS)
        if key in given:
            raise UsageError(f"{key}= is given twice.", "Give each option once.")
        given[key] = value
    return _build(given, dry_run=dry_run, now=now)


def refuse_flag_value(token: str, *, flags: frozenset[str]) -> None:
    """Refuse `flag=value`: a flag is a word alone, and no value of it is understood."""
    key, sep, _ = token.partition("=")
    if sep and key.lower() in flags:
        raise UsageError(
            f"{show(token)}: {key.lower()} is a word alone and takes no value.",
            f"Write {key.lower()} to preview the plan without changing anything, "
            "or leave it out to start the rollout.",
        )


def split_option(token: str, *, valid: Sequence[str]) -> tuple[str, str]:
    """`key=value` -> (key, value) for a key in `valid`, or a UsageError naming the word."""
    key, sep, value = token.partition("=")
    key = key.lower()
    if not sep:
        raise UsageError(f"Unexpected word {show(token)}.", _valid_hint(valid))
    if key not in valid:
        raise UsageError(f"Unknown option {show(key)}.", _unknown_hint(key, valid))
    if not value:
        raise UsageError(f"{key}= has no value.", f"Write it as {_EXAMPLES.get(key, key + '=…')}.")
    return key, value


_EXAMPLES = {
    "batch": "batch=5 or batch=10%",
    "wait": "wait=1m",
    "pilot": "pilot=2, pilot=0 or pilot=tenant-a,tenant-b",
    "tenants": "tenants=tenant-a,tenant-b",
    "waves": "waves=fixed or waves=double",
    "at": "at=14:30 or at=2026-12-01T14:30:00Z",
    "to": "to=v1.2.0",
}


def _valid_hint(valid: Sequence[str]) -> str:
    return "Valid options: " + ", ".join(valid) + "."


def _unknown_hint(key: str, valid: Sequence[str]) -> str:
    bare = key.lstrip("-")
    if bare != key and bare in valid:
        return f"Write options without leading dashes: {bare}=…"
    close = difflib.get_close_matches(key[:30], valid, n=1)
    guess = f"Did you mean {close[0]}? " if close else ""
    return guess + _valid_hint(valid)


def _build(given: dict[str, str], *, dry_run: bool, now: datetime) -> RolloutOptions:
    """Every given key is taken out of `given` as it is read; one left over is a bug here."""
    tenants = parse_namespaces(given.pop("tenants"), key="tenants") if "tenants" in given else None
    pilot_count, pilot_tenants = _parse_pilot(given.pop("pilot", None), tenants=tenants)
    options = RolloutOptions(
        batch=_keyed(given, "batch", parse_batch),
        wait=_keyed(given, "wait", parse_duration),
        pilot_count=pilot_count,
        pilot_tenants=pilot_tenants,
        tenants=tenants,
        waves=_keyed(given, "waves", _parse_waves),
        at=_keyed(given, "at", lambda text: parse_at(text, now=now)),
        dry_run=dry_run,
    )
    if given:
        raise AssertionError(f"options accepted but never read: {sorted(given)}")
    return options


def _keyed(given: dict[str, str], key: str, parse: Callable[[str], _T]) -> _T | None:
    """Parse one option's value (and take it out of `given`), prefixing a refusal with the
    option it belongs to."""
    if key not in given:
        return None
    try:
        return parse(given.pop(key))
    except UsageError as err:
        raise UsageError(f"{key}: {err.problem}", err.hint) from None


def _parse_waves(text: str) -> Waves:
    try:
        return Waves(text.lower())
    except ValueError:
        raise UsageError(
            f"{show(text)} is not a wave shape.", "Use waves=fixed or waves=double."
        ) from None


def _parse_pilot(
    text: str | None, *, tenants: tuple[str, ...] | None
) -> tuple[int | None, tuple[str, ...] | None]:
    if text is None:
        return None, None
    if _COUNT.fullmatch(text):
        count = int(text)
        if count > MAX_COUNT:
            raise UsageError(f"pilot={text} is too many pilots; the limit is {MAX_COUNT:,}.")
        if tenants is not None and count > len(tenants):
            raise UsageError(
                f"pilot={count} asks for more pilots than the {len(tenants)} tenants given.",
                "Lower pilot= or list more tenants.",
            )
        return count, None
    names = parse_namespaces(text, key="pilot")
    for name in names:
        if tenants is not None and name not in tenants:
            raise UsageError(
                f"Pilot tenant {show(name)} is not among tenants=.",
                "Pilots must be some of the tenants being rolled out to.",
            )
    return None, names


def format_options(options: RolloutOptions) -> tuple[str, ...]:
    """Canonical option words, the inverse of :func:`parse_options` (order is fixed)."""
    words: list[str] = []
    if options.batch is not None:
        words.append(f"batch={options.batch.text}")
    if options.wait is not None:
        words.append(f"wait={format_duration(options.wait)}")
    if options.pilot_count is not None:
        words.append(f"pilot={options.pilot_count}")
    if options.pilot_tenants is not None:
        words.append("pilot=" + ",".join(options.pilot_tenants))
    if options.tenants is not None:
        words.append("tenants=" + ",".join(options.tenants))
    if options.waves is not None:
        words.append(f"waves={options.waves.value}")
    if options.at is not None:
        words.append(f"at={format_at(options.at)}")
    if options.dry_run:
        words.append("dry-run")
    return tuple(words)
