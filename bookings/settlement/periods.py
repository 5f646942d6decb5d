"""Settlement periods: an ISO week (``2026-W48``, Monday to Sunday) or a month (``2026-11``), in
local dates of the booking time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Kind = Literal["weekly", "monthly"]
WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
FIRST_YEAR, LAST_YEAR = 2000, 2199


@dataclass(frozen=True, slots=True)
class Period:
    key: str
    kind: Kind
    first: date  # both included
    last: date

    def start(self, timezone: str) -> datetime:
        return local_midnight(self.first, timezone)

    def end(self, timezone: str) -> datetime:
        """The first instant after the period."""
        return local_midnight(self.last + timedelta(days=1), timezone)


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(timezone))


def parse(key: str) -> Period:
    """``2026-W48`` or ``2026-11``; ValueError naming what is wrong otherwise."""
    if match := WEEK.fullmatch(key):
        year, week = int(match[1]), int(match[2])
        _check_year(year)
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"{year} has no ISO week {week}") from None
        return week_of(monday)
    if match := MONTH.fullmatch(key):
        year, month = int(match[1]), int(match[2])
        _check_year(year)
        if not 1 <= month <= 12:
            raise ValueError(f"there is no month {month}")
        return month_of(date(year, month, 1))
    raise ValueError("a period is an ISO week like 2026-W48 or a month like 2026-11")


def week_of(day: date) -> Period:
    monday = day - timedelta(days=day.weekday())
    year, week, _ = monday.isocalendar()
    return Period(f"{year}-W{week:02d}", "weekly", monday, monday + timedelta(days=6))


def month_of(day: date) -> Period:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(f"{first.year}-{first.month:02d}", "monthly", first, following - timedelta(days=1))


def containing(kind: Kind, day: date) -> Period:
    return week_of(day) if kind == "weekly" else month_of(day)


def last_ended(kind: Kind, today: date) -> Period:
    """The latest period of ``kind`` that ended before ``today``."""
    return containing(kind, containing(kind, today).first - timedelta(days=1))


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"the year must be {FIRST_YEAR}..{LAST_YEAR}")
