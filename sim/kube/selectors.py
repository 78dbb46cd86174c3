"""Label and field selectors, parsed once per request and matched against stored objects.

Label selectors follow the API server's grammar: ``k=v``, ``k==v``, ``k!=v``,
``k in (a,b)``, ``k notin (a)``, ``k`` and ``!k``. Field selectors compare dotted paths
(``metadata.name=x``, ``involvedObject.name!=y``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sim.kube.resources import bad_request

Matcher = Callable[[Mapping[str, str]], bool]

_SET_RE = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([\w./-]+)\s*(==|!=|=)\s*([\w./-]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside a ``(...)`` value set."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return [t for t in terms if t.strip()]


def _term(text: str) -> Matcher:
    if m := _SET_RE.match(text):
        key, op, raw = m.groups()
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _EQ_RE.match(text):
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _EXISTS_RE.match(text):
        negate, key = m.groups()
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise bad_request(f"unable to parse requirement: {text.strip()!r}")


def parse_labels(text: str | None) -> Matcher | None:
    """A matcher for a ``labelSelector`` query value, or None when it selects everything."""
    if not text or not text.strip():
        return None
    terms = [_term(t) for t in _split_terms(text)]
    return lambda labels: all(t(labels) for t in terms)


def from_label_selector(selector: Mapping[str, Any] | None) -> Matcher:
    """A matcher for a ``LabelSelector`` object (matchLabels and matchExpressions)."""
    selector = selector or {}
    wanted = dict(selector.get("matchLabels") or {})
    exprs = list(selector.get("matchExpressions") or [])

    def expr_ok(labels: Mapping[str, str], e: Mapping[str, Any]) -> bool:
        key, op, values = e.get("key", ""), e.get("operator", ""), e.get("values") or []
        return {
            "In": lambda: labels.get(key) in values,
            "NotIn": lambda: labels.get(key) not in values,
            "Exists": lambda: key in labels,
            "DoesNotExist": lambda: key not in labels,
        }.get(op, lambda: False)()

    def match(labels: Mapping[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in wanted.items()):
            return False
        return all(expr_ok(labels, e) for e in exprs)

    return match


def lookup(obj: Mapping[str, Any], dotted: str) -> str | None:
    cur: Any = obj
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return None if cur is None else str(cur)


def parse_fields(text: str | None) -> Callable[[Mapping[str, Any]], bool] | None:
    """A matcher for a ``fieldSelector`` query value, or None when it selects everything."""
    if not text or not text.strip():
        return None
    checks: list[tuple[str, bool, str]] = []
    for term in _split_terms(text):
        m = _EQ_RE.match(term)
        if not m:
            raise bad_request(f"invalid field selector: {term.strip()!r}")
        path, op, value = m.groups()
        checks.append((path, op != "!=", value))

    def match(obj: Mapping[str, Any]) -> bool:
        return all((lookup(obj, path) or "") == value if eq else (lookup(obj, path) or "") != value
                   for path, eq, value in checks)

    return match


def name_from_fields(text: str | None) -> str | None:
    """The name pinned by ``metadata.name=X``, so a list can skip scanning a namespace."""
    for term in _split_terms(text or ""):
        m = _EQ_RE.match(term)
        if m and m.group(1) == "metadata.name" and m.group(2) in ("=", "=="):
            return m.group(3)
    return None
