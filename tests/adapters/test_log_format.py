"""`rollbot serve`'s log formats: which one is chosen, what a JSON line holds, and that
Slack's credentials are masked in either."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from bot.logs import JsonFormatter, TextFormatter, log_format
from rollout.errors import ConfigError

HOOK = "https://hooks.slack.com/commands/T0TEAM/1234567890/AbCdEf123"


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("rollbot.serve", logging.WARNING, __file__, 1, message, args, exc_info)


def failure() -> BaseException:
    try:
        raise RuntimeError(f"posting to {HOOK} failed")
    except RuntimeError:
        return sys.exc_info()[1]  # type: ignore[return-value]


def test_the_flag_wins_then_the_environment_then_text() -> None:
    assert log_format("json", {"ROLLBOT_LOG_FORMAT": "text"}) == "json"
    assert log_format("text", {"ROLLBOT_LOG_FORMAT": "nonsense"}) == "text"
    assert log_format(None, {"ROLLBOT_LOG_FORMAT": "json"}) == "json"
    assert log_format(None, {"ROLLBOT_LOG_FORMAT": ""}) == "text"
    assert log_format(None, {}) == "text"


@pytest.mark.parametrize(
    ("flag", "env", "named"),
    [("xml", {}, "--log-format"), (None, {"ROLLBOT_LOG_FORMAT": "yaml"}, "ROLLBOT_LOG_FORMAT")],
)
def test_any_other_format_is_a_configuration_error(
    flag: str | None, env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        log_format(flag, env)
    assert str(refused.value).startswith(f"{named}: must be text or json, not ")


def test_a_json_line_holds_time_level_logger_message_and_the_exception() -> None:
    line = JsonFormatter().format(record("refused %s request", "one", exc=failure()))

    entry = json.loads(line)
    assert "\n" not in line
    assert set(entry) == {"time", "level", "logger", "message", "exception"}
    assert entry["time"].endswith("+00:00")
    assert (entry["level"], entry["logger"]) == ("WARNING", "rollbot.serve")
    assert entry["message"] == "refused one request"
    assert entry["exception"].startswith("Traceback") and "RuntimeError" in entry["exception"]


def test_without_an_exception_there_is_no_exception_field() -> None:
    assert "exception" not in json.loads(JsonFormatter().format(record("hello")))


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()])
def test_tokens_and_response_urls_are_masked_in_either_format(
    formatter: logging.Formatter,
) -> None:
    tokens = "xoxb-1234-5678-abcdef xoxp-99-aa xoxe.xoxp-1-Zz9 xapp-1-A0-123-ff"
    written = formatter.format(record("%s posted to '%s'", tokens, HOOK, exc=failure()))

    for secret in [*tokens.split(), HOOK, "T0TEAM/1234567890"]:
        assert secret not in written
    assert "https://hooks.slack.com/[masked]" in written
