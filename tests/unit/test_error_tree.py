"""The error tree drawn at the top of rollout/errors.py is the one the code has.

Every RollbotError subclass in rollout/, handlers/ and bot/ is drawn under its real parent,
nothing is drawn that the code does not define, and every error drawn is raised somewhere:
a reader can trust the drawing to know what may come out of a call. The product's sources
are read as text, so this stays a unit test of the drawing, importing no adapter.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import rollout.errors

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("rollout", "handlers", "bot")
BASE = "RollbotError"
_NODE = re.compile(r"^(?P<lead>[ │]*)(?:[├└]── )?(?P<name>[A-Z]\w+)")


def drawn() -> set[tuple[str, str]]:
    """(error, parent) for every error in the drawing; the root's parent is ''."""
    doc = rollout.errors.__doc__ or ""
    lines = doc.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip() == BASE)
    root_at = lines[start].index(BASE)
    pairs: set[tuple[str, str]] = set()
    path: list[str] = []
    for line in lines[start:]:
        if not line.strip():
            break
        found = _NODE.match(line)
        assert found is not None, f"not a node of the tree: {line!r}"
        depth = (found.start("name") - root_at) // 4
        path[depth:] = [found.group("name")]
        pairs.add((path[depth], path[depth - 1] if depth else ""))
    return pairs


@functools.cache
def _trees() -> tuple[ast.Module, ...]:
    return tuple(
        ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
        for package in PRODUCT
        for source in sorted((ROOT / package).rglob("*.py"))
    )


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def defined() -> set[tuple[str, str]]:
    """(error, parent) for every class deriving from RollbotError in the product."""
    bases: set[tuple[str, str]] = {
        (node.name, _name(base))
        for tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for base in node.bases
    }
    errors = {(BASE, "")}
    while True:
        known = {name for name, _ in errors}
        more = {(name, parent) for name, parent in bases if parent in known} - errors
        if not more:
            return errors
        errors |= more


def constructed() -> set[str]:
    """The names the product calls: an error is raised by calling its class."""
    calls = (node for tree in _trees() for node in ast.walk(tree) if isinstance(node, ast.Call))
    return {_name(call.func) for call in calls}


def test_every_error_the_code_defines_is_drawn_under_its_parent_and_nothing_else() -> None:
    not_drawn, not_defined = defined() - drawn(), drawn() - defined()
    assert (sorted(not_drawn), sorted(not_defined)) == ([], [])


def test_every_error_drawn_is_raised_somewhere() -> None:
    never = sorted(name for name, _ in drawn() if name not in constructed())
    assert never == []
