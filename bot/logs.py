"""How `rollbot serve` writes its log: plain lines, or one JSON object a line for a log
collector, chosen by `--log-format` or `ROLLBOT_LOG_FORMAT` (the flag wins).

Whatever wrote a record (rollbot, Bolt, the Slack SDK, aiohttp), Slack tokens and
response_urls are masked before it is written: both are credentials, and libraries put
URLs into their messages (slack_sdk names the response_url it retries).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime

from rollout.errors import ConfigError

FORMATS = ("text", "json")
FORMAT_FLAG = "--log-format"
FORMAT_ENV = "ROLLBOT_LOG_FORMAT"
LEVEL_ENV = "ROLLBOT_LOG_LEVEL"
TEXT_LAYOUT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_SECRETS = (
    # xoxb-, xoxp-, xoxe.xoxp-, ... and app-level tokens
    (re.compile(r"\bxox[a-z.]*-[A-Za-z0-9-]+"), "xox-[masked]"),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), "xapp-[masked]"),
    # a response_url: whoever holds it may post as the app for 30 minutes
    (re.compile(r"https://hooks\.slack\.com/[^\s'\"<>\\]+"), "https://hooks.slack.com/[masked]"),
)


def mask(text: str) -> str:
    """`text` with every Slack token and response_url replaced by a marker."""
    for pattern, marker in _SECRETS:
        text = pattern.sub(marker, text)
    return text


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, with the traceback below when there is one."""

    def __init__(self) -> None:
        super().__init__(TEXT_LAYOUT)

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, and the
    exception's traceback as `exception` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = mask(record.exc_text)
        if record.stack_info:
            entry["stack"] = mask(self.formatStack(record.stack_info))
        return json.dumps(entry)


def log_format(flag: str | None, env: Mapping[str, str]) -> str:
    """The format asked for: the flag if given, else the environment, else text."""
    if flag is not None:
        return _known(flag, FORMAT_FLAG)
    return _known(env.get(FORMAT_ENV) or "text", FORMAT_ENV)


def _known(value: str, where: str) -> str:
    if value not in FORMATS:
        raise ConfigError(where, f"must be {' or '.join(FORMATS)}, not {value!r}")
    return value


def configure(fmt: str, env: Mapping[str, str]) -> None:
    """Send every record at `ROLLBOT_LOG_LEVEL` (default INFO) and above to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logging.basicConfig(level=env.get(LEVEL_ENV, "INFO"), handlers=[handler])
