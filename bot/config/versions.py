"""Each app's `versions:` and the `release.windows` of rollbot.yaml (SPEC section 12).

A rule per bump (`patch`, `minor`, `major`) takes the same rollout keys as the app itself,
checked by the same checks, plus `window: required`; the engine gets, per bump, the app's
settings with the rule laid over them (:class:`rollout.model.VersionRule`). Windows are
checked here too, so a wrong day or time zone stops start-up naming the key.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from bot.config import checks
from rollout.options import BatchSpec
from rollout.windows import DAYS, Window

_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])", re.ASCII)

Duration = Annotated[int, BeforeValidator(checks.duration)]
LongerThanZero = Annotated[int, BeforeValidator(checks.positive_duration)]
AtLeastOne = Annotated[int, BeforeValidator(checks.at_least_one)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class VersionRuleConfig(_Strict):
    """`apps.<app>.versions.<bump>`: any rollout key of the app, and `window`."""

    batch: Annotated[BatchSpec, BeforeValidator(checks.batch)] | None = None
    waves: Literal["fixed", "double"] | None = None
    wait: Duration | None = None
    pilot: Annotated[int | tuple[str, ...], BeforeValidator(checks.pilot)] | None = None
    pilot_monitor: Duration | None = None
    monitor: Duration | None = None
    remove_old_after: Annotated[int | None, BeforeValidator(checks.optional_duration)] = None
    rollout_timeout: LongerThanZero | None = None
    crashloop_restarts: AtLeastOne | None = None
    approval: bool | None = None
    approvals_required: AtLeastOne | None = None
    four_eyes: bool | None = None
    approval_timeout: LongerThanZero | None = None
    auto_rollback: bool | None = None
    error_rate: Annotated[float, BeforeValidator(checks.share)] | None = None
    latency_factor: Annotated[float | None, BeforeValidator(checks.factor)] = None
    window: Literal["required"] | None = None

    def overrides(self) -> dict[str, Any]:
        """The app keys this rule sets, with their checked values."""
        return {key: getattr(self, key) for key in self.model_fields_set if key != "window"}


class VersionsConfig(_Strict):
    patch: VersionRuleConfig | None = None
    minor: VersionRuleConfig | None = None
    major: VersionRuleConfig | None = None

    def rules(self) -> dict[str, VersionRuleConfig]:
        return {bump: rule for bump in ("patch", "minor", "major")
                if (rule := getattr(self, bump)) is not None}


def day_set(value: Any) -> frozenset[int]:
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list) and items and all(
        isinstance(day, str) and day.strip().lower()[:3] in DAYS for day in items
    ):
        return frozenset(DAYS.index(day.strip().lower()[:3]) for day in items)
    raise ValueError(f"must be a list of days like [sat, sun], got {checks.got(value)}")


def clock_time(value: Any) -> time:
    match = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"must be a time like \"02:00\" (24-hour), got {checks.got(value)}")
    return time(int(match[1]), int(match[2]))


def zone(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        try:
            ZoneInfo(value.strip())
            return value.strip()
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise ValueError(f"must be a time zone like UTC or Europe/Berlin, got {checks.got(value)}")


class WindowConfig(_Strict):
    """One of `release.windows`: `to` before `from` runs past midnight into the next day."""

    days: Annotated[frozenset[int], BeforeValidator(day_set)]
    from_: Annotated[time, BeforeValidator(clock_time), Field(alias="from")]
    to: Annotated[time, BeforeValidator(clock_time)]
    tz: Annotated[str, BeforeValidator(zone)] = "UTC"

    @model_validator(mode="after")
    def _not_empty(self) -> WindowConfig:
        if self.from_ == self.to:
            raise ValueError(f"opens and closes at {self.to:%H:%M}; give to a later time, "
                             "or an earlier one for a window past midnight")
        return self

    def window(self) -> Window:
        return Window(days=self.days, start=self.from_, end=self.to, tz=self.tz)


WINDOW_KEYS = ["days", "from", "to", "tz"]


def window_list(value: Any) -> Any:
    """YAML's list, as the tuple the model keeps; each entry is checked by WindowConfig."""
    if isinstance(value, list):
        return tuple(value)
    raise ValueError(f"must be a list of windows like [{{days: [sat, sun], from: \"02:00\", "
                     f"to: \"05:00\", tz: UTC}}], got {checks.got(value)}")
