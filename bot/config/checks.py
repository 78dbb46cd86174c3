"""Checks for single values of rollbot.yaml, each refusal a sentence.

Each check takes what YAML produced and returns the value in the engine's terms (seconds,
a share, a tuple of IDs) or raises ValueError with a sentence that ends in what was given
(:func:`got`): "must be a positive number or a percentage like 10%, got 'zero'". Reading
the file and rewording pydantic's own errors the same way is :mod:`bot.config.reading`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from handlers.commands import RESERVED_WORDS
from rollout.errors import ConfigError
from rollout.images import ImageRefError, parse_image_ref
from rollout.options import (
    MAX_COUNT,
    BatchSpec,
    UsageError,
    check_namespace,
    parse_batch,
    parse_duration,
)

_UNITS = re.compile(r"([0-9]+h)?([0-9]+m)?([0-9]+s)?", re.ASCII)
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,}", re.ASCII)
_PRINCIPAL = re.compile(r"[UWS][A-Z0-9]{2,}", re.ASCII)
_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?", re.ASCII)
_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?", re.ASCII)
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?", re.ASCII)
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
MAX_APP_NAME = 40


def got(value: Any) -> str:
    """How a refusal shows the value it was given."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- durations and numbers ------------------------------------------------------------------


def duration(value: Any) -> int:
    """`30s`, `5m`, `1h30m` -> seconds."""
    if isinstance(value, str):
        try:
            return parse_duration(value.strip())
        except UsageError:
            if value.strip() and _UNITS.fullmatch(value.strip()):
                raise ValueError(f"must be at most 7 days (168h), got {got(value)}") from None
    bare = value.strip() if isinstance(value, str) and value.strip().isdigit() else None
    if _number(value) or bare:
        amount = bare or value
        raise ValueError(
            f"must be a duration with a unit, like {amount}s or {amount}m, got {got(value)}"
        )
    raise ValueError(f"must be a duration like 30s, 5m or 1h30m, got {got(value)}")


def positive_duration(value: Any) -> int:
    seconds = duration(value)
    if seconds <= 0:
        raise ValueError(f"must be longer than 0s, got {got(value)}")
    return seconds


def optional_duration(value: Any) -> int | None:
    return None if value is None else duration(value)


def at_least_one(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_COUNT:
        return value
    raise ValueError(f"must be a whole number, 1 or more, got {got(value)}")


def port(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    raise ValueError(f"must be a port number from 1 to 65535, got {got(value)}")


def batch(value: Any) -> BatchSpec:
    """`5` tenants a batch, or `10%` of the fleet."""
    problem = f"must be a positive number or a percentage like 10%, got {got(value)}"
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(problem)
    try:
        return parse_batch(value.strip())
    except UsageError:
        raise ValueError(problem) from None


def pilot(value: Any) -> int | tuple[str, ...]:
    """A count of pilot tenants, or the pilot tenants themselves."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return pilot(int(value.strip()))
    if isinstance(value, str | list) and value:
        return namespaces(value)
    raise ValueError(
        f"must be a count like 2 (0 for no pilots) or a list of tenant namespaces, got {got(value)}"
    )


def share(value: Any) -> float:
    """`5%` or `0.05`: a share of requests, more than 0 and at most 1."""
    text = value.strip() if isinstance(value, str) else None
    rate: float | None = None
    if text and text.endswith("%") and _NUMBER.fullmatch(text[:-1].strip()):
        rate = float(text[:-1]) / 100
    elif text and _NUMBER.fullmatch(text):
        rate = float(text)
    elif _number(value):
        rate = float(value)
    if rate is not None and 0 < rate <= 1:
        return rate
    hint = f" (did you mean {value}%?)" if rate is not None and 1 < rate <= 100 else ""
    raise ValueError(f"must be a percentage like 5% or a share like 0.05, got {got(value)}{hint}")


def factor(value: Any) -> float | None:
    """How much slower than the baseline is tolerated; null or false turns the check off."""
    if value is None or value is False:
        return None
    if _number(value) and 1 <= value <= 1000:
        return float(value)
    raise ValueError(
        f"must be a number of at least 1.0, like 2.0, or null to turn the latency check off, "
        f"got {got(value)}"
    )


# --- names and IDs --------------------------------------------------------------------------


def _items(value: Any) -> list[Any]:
    """A YAML list, or one value / comma-separated text standing for a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    raise ValueError(f"must be a list, got {got(value)}")


def _each(value: Any, check: Callable[[str], bool], *, what: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in _items(value):
        if not isinstance(item, str) or not check(item):
            raise ValueError(f"lists {got(item)}, which is not {what}")
        seen.setdefault(item, None)  # a repeated ID means nothing more: keep the first
    return tuple(seen)


def channel(value: Any) -> str:
    if isinstance(value, str) and _CHANNEL.fullmatch(value):
        return value
    raise ValueError(f"must be a Slack channel ID like C0RELEASES (not a #name), got {got(value)}")


def channels(value: Any) -> tuple[str, ...]:
    return _each(value, lambda v: bool(_CHANNEL.fullmatch(v)), what="a channel ID like C0RELEASES")


def principals(value: Any) -> tuple[str, ...]:
    """Slack user IDs (U..., W...) and user-group IDs (S...)."""
    return _each(
        value,
        lambda v: bool(_PRINCIPAL.fullmatch(v)),
        what="a Slack user ID (U... or W...) or user-group ID (S...)",
    )


def namespaces(value: Any) -> tuple[str, ...]:
    names = _items(value)
    for name in names:
        if not isinstance(name, str):
            raise ValueError(f"lists {got(name)}, which is not a namespace name")
        try:
            check_namespace(name, key="x")
        except UsageError:
            raise ValueError(
                f"lists {got(name)}, which is not a namespace name "
                "(lowercase letters, digits and '-', at most 63)"
            ) from None
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"lists {got(twice[0])} twice")
    return tuple(names)


def _name(value: Any, *, pattern: re.Pattern[str], limit: int) -> str:
    if isinstance(value, str) and len(value) <= limit and pattern.fullmatch(value):
        return value
    raise ValueError(
        f"must be a Kubernetes name (lowercase letters, digits and '-', at most {limit}), "
        f"got {got(value)}"
    )


def short_name(value: Any) -> str:
    return _name(value, pattern=_LABEL, limit=63)


def long_name(value: Any) -> str:
    return _name(value, pattern=_SUBDOMAIN, limit=253)


def label_value(value: Any) -> str:
    if isinstance(value, str) and len(value) <= 63 and _LABEL_VALUE.fullmatch(value):
        return value
    raise ValueError(f"must be a Kubernetes label value, got {got(value)}")


def selector(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError(
        f"must be a label selector like app.kubernetes.io/component=tenant, got {got(value)}"
    )


def url_path(value: Any) -> str:
    if isinstance(value, str) and value.startswith("/") and not any(c.isspace() for c in value):
        return value
    raise ValueError(f"must be a URL path starting with /, got {got(value)}")


def http_url(value: Any) -> str:
    """A base URL such as http://prometheus.monitoring:9090 (no query, no fragment)."""
    if isinstance(value, str) and not any(c.isspace() for c in value):
        parts = urlsplit(value)
        plain = not parts.query and not parts.fragment
        if parts.scheme in ("http", "https") and parts.netloc and plain:
            return value.rstrip("/")
    raise ValueError(f"must be an http:// or https:// URL, got {got(value)}")


def error_rate_query(value: Any) -> str:
    """A PromQL query for one tenant's error rate: it must name the tenant's namespace,
    or every tenant would be judged on the same number."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a PromQL query, got {got(value)}")
    if "$namespace" not in value:
        raise ValueError(
            "must contain $namespace (and may contain $deployment and $window), so each "
            "tenant is judged on its own traffic"
        )
    return value.strip()


def repository(value: Any) -> str:
    """An image repository without a tag: the version comes from each command."""
    if not isinstance(value, str):
        raise ValueError(f"must be an image repository, got {got(value)}")
    try:
        ref = parse_image_ref(value)
    except ImageRefError as err:
        raise ValueError(f"must be an image repository ({err}), got {got(value)}") from None
    if ref.tag or ref.digest:
        raise ValueError(
            "must be an image repository without a tag (the version comes from the command), "
            f"got {got(value)}"
        )
    return value.strip()


def app_name(name: str) -> None:
    """App names are typed in commands: short, lowercase, and not a /deploy sub-command."""
    key = f"apps.{name}"
    if len(name) > MAX_APP_NAME or not _LABEL.fullmatch(name):
        raise ConfigError(
            key, "app names are lowercase letters, digits and '-', at most 40 characters"
        )
    if name in RESERVED_WORDS:
        raise ConfigError(key, f"{name!r} is a /deploy sub-command; give the app another name")


_VALUES_KEY = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*", re.ASCII)
MAX_RELEASE = 53  # Helm's limit on a release name


def release_name(value: Any) -> str:
    """A Helm release name, where `{slug}` (the namespace without `tenant-`) or
    `{namespace}` may stand for the tenant; checked as it comes out for a long slug."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a Helm release name like {{slug}}-isp, got {got(value)}")
    sample = value.strip().replace("{slug}", "example").replace("{namespace}", "tenant-example")
    if "{" in sample or "}" in sample:
        raise ValueError(f"may use only {{slug}} and {{namespace}}, got {got(value)}")
    if not _LABEL.fullmatch(sample) or len(sample) > MAX_RELEASE:
        raise ValueError(
            "must give lowercase letters, digits and '-' (at most 53 characters), "
            f"got {got(value)}"
        )
    return value.strip()


def values_key(value: Any) -> str:
    """A dotted path into the chart's values: `image.tag`."""
    if not isinstance(value, str) or not _VALUES_KEY.fullmatch(value.strip()):
        raise ValueError(f"must be a dotted values key like image.tag, got {got(value)}")
    return value.strip()


def non_empty(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {got(value)}")
    return value.strip()
