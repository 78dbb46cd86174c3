"""Reading rollbot.yaml, and telling every problem with it at once.

The file is parsed strictly (a key given twice is refused, syntax errors name the line),
and pydantic's own errors (missing keys, unknown keys, wrong types) are reworded into the
sentences the value checks of :mod:`bot.config.checks` speak, under dotted keys.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from bot.config.checks import got
from rollout.errors import ConfigError


class ConfigProblems(ConfigError):
    """Every problem found at once: the first is `key`/`problem`, the message lists all."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__(*problems[0])
        self.problems = list(problems)
        if len(self.problems) > 1:
            self.args = ("\n".join(f"{key}: {problem}" for key, problem in self.problems),)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML keeps the last)."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} appears twice", key_node.start_mark
                )
            seen.add(key)
        except TypeError:
            continue  # an unhashable key; construct_mapping refuses it with its own message
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str, *, source: str) -> dict[str, Any]:
    """Parse the file; syntax errors name the line and column."""
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(source, f"is not valid YAML: {err.problem}{where}") from None
    except yaml.YAMLError as err:
        raise ConfigError(source, f"is not valid YAML: {err}") from None
    if data is None:
        raise ConfigError(source, "is empty; start from rollbot.example.yaml")
    if not isinstance(data, dict):
        raise ConfigError(
            source, f"must be a mapping of keys (slack, registry, apps, health), got {got(data)}"
        )
    return data


_TYPE_WORDS = {
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
}


def reworded(
    err: ValidationError, *, known_keys: Callable[[tuple[str | int, ...]], list[str]]
) -> ConfigProblems:
    """Pydantic's errors as ConfigErrors: dotted keys and plain sentences."""
    problems = []
    for error in err.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if part != "[key]")
        problems.append((_dotted(loc), _sentence(error, loc=loc, known_keys=known_keys)))
    return ConfigProblems(problems or [("(config)", str(err))])


def _dotted(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
    return text or "(top level)"


def _sentence(
    error: Any, *, loc: tuple[str | int, ...], known_keys: Callable[..., list[str]]
) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        known = known_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        if close:
            return f"is not a known key; did you mean {close[0]}?"
        return "is not a known key" + (f"; known keys: {', '.join(known)}" if known else "")
    if kind == "literal_error":
        return f"must be {error['ctx']['expected']}, got {got(value)}"
    if kind in _TYPE_WORDS:
        return f"{_TYPE_WORDS[kind]}, got {got(value)}"
    message = str(error["msg"])
    return f"{message[:1].lower()}{message[1:]}, got {got(value)}"
