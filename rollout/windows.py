"""Release windows: the times a bump that requires one (`window: required`) may start.

`release.windows` in rollbot.yaml lists them, each on some days of the week, from one
wall-clock time to another in its own time zone. A window whose `to` is not after its
`from` runs past midnight into the next day (Saturday 22:00 to 02:00 is Saturday night).
Pure: the current time comes in as an argument; stdlib only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Window:
    """Days are weekday numbers, Monday 0, of the day the window opens."""

    days: frozenset[int]
    start: time
    end: time
    tz: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def length(self) -> timedelta:
        today = date(2000, 1, 1)
        span = datetime.combine(today, self.end) - datetime.combine(today, self.start)
        return span if span > timedelta(0) else span + timedelta(days=1)

    def opening(self, day: date) -> datetime:
        """When the window opens on `day` (local date), as an aware time in its zone."""
        return datetime.combine(day, self.start, tzinfo=self.zone)

    def contains(self, at: datetime) -> bool:
        """Whether `at` (aware) falls inside a stretch of this window, its end excluded."""
        local = at.astimezone(self.zone).date()
        for day in (local - timedelta(days=1), local):
            if day.weekday() not in self.days:
                continue
            opens = self.opening(day)
            if opens <= at < opens + self.length:
                return True
        return False

    def next_opening(self, after: datetime) -> datetime:
        """The first opening strictly after `after` (aware)."""
        local = after.astimezone(self.zone).date()
        for offset in range(8):
            day = local + timedelta(days=offset)
            if day.weekday() in self.days and self.opening(day) > after:
                return self.opening(day)
        raise ValueError("a window has at least one day")  # days is never empty


def inside(windows: Sequence[Window], at: datetime) -> bool:
    return any(window.contains(at) for window in windows)


def next_opening(windows: Sequence[Window], after: datetime) -> tuple[Window, datetime] | None:
    """The window that opens first after `after`, and when; None without windows."""
    openings = [(window, window.next_opening(after)) for window in windows]
    return min(openings, key=lambda pair: pair[1]) if openings else None
