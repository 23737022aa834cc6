"""Business-time SLA clocks: due times, elapsed business time and SLA state.

SLA targets ("first response in 2h") count only the hours the centres are
open: weekdays 09:00-18:00 in Asia/Baku, minus Azerbaijani public holidays
as the `holidays` library knows them (Novruz, Ramazan and Qurban bayramı with
their moved days off, ...). Config can close extra days or open extra ones,
e.g. a Saturday the government declares a working day in exchange for a bridge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import holidays as holiday_calendars

SlaState = Literal["ok", "at_risk", "breached"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ONE_DAY = timedelta(days=1)
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str, *, business_day_s: int = 9 * 3600) -> int:
    """Seconds in "90s", "30m", "2h", "5d" or a combination in that order ("1h30m").

    A day is a business day, `business_day_s` long (pass the calendar's
    `business_day_s`), since SLA targets in days count working days.
    """
    found = _DURATION.fullmatch(text.strip())
    if found is None or not any(found.groups()):
        raise ValueError(
            f"invalid duration {text!r}: expected e.g. '90s', '30m', '2h', '5d' or '1h30m'"
        )
    days, hours, minutes, seconds = (int(part or 0) for part in found.groups())
    return days * business_day_s + hours * 3600 + minutes * 60 + seconds


def _require_aware(value: datetime, name: str) -> None:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


@dataclass(frozen=True)
class BusinessCalendar:
    tz: str = "Asia/Baku"
    days: frozenset[str] = frozenset(WEEKDAYS[:5])
    open: time = time(9)
    close: time = time(18)
    holidays: str | None = "AZ"  # a country code the holidays library knows; None = none
    extra_closed_days: frozenset[date] = frozenset()
    extra_open_days: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _weekdays: frozenset[int] = field(init=False, repr=False, compare=False)
    _holidays_by_year: dict[int, frozenset[date]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        unknown = set(self.days) - set(WEEKDAYS)
        if unknown or not self.days:
            raise ValueError(
                f"days must be a non-empty subset of {WEEKDAYS}, got {sorted(self.days)}"
            )
        if not self.open < self.close:
            raise ValueError(f"open {self.open} must be before close {self.close}")
        if self.holidays and self.holidays not in holiday_calendars.list_supported_countries():
            raise ValueError(f"holidays: unknown country code {self.holidays!r}")
        # Accept plain sets from config loading but keep the calendar immutable.
        object.__setattr__(self, "days", frozenset(self.days))
        object.__setattr__(self, "extra_closed_days", frozenset(self.extra_closed_days))
        object.__setattr__(self, "extra_open_days", frozenset(self.extra_open_days))
        object.__setattr__(self, "_zone", ZoneInfo(self.tz))
        object.__setattr__(self, "_weekdays", frozenset(WEEKDAYS.index(d) for d in self.days))

    @property
    def business_day_s(self) -> int:
        """Length of one business day in seconds (what "1d" means in an SLA target)."""
        return (
            datetime.combine(date.min, self.close) - datetime.combine(date.min, self.open)
        ).seconds

    def _public_holidays(self, year: int) -> frozenset[date]:
        # Building a year of holidays costs milliseconds; SLA sweeps ask constantly.
        cached = self._holidays_by_year.get(year)
        if cached is None:
            cached = (
                frozenset(holiday_calendars.country_holidays(self.holidays, years=year))
                if self.holidays
                else frozenset()
            )
            self._holidays_by_year[year] = cached
        return cached

    def named_public_holidays(self, year: int,
                              languages: tuple[str, ...] = ()) -> list[tuple[date, str]]:
        """The year's public holidays with their names, in the first of `languages` the
        calendar writes (the holidays library's codes: "az", "en_US"), else its own."""
        if not self.holidays:
            return []
        calendar = holiday_calendars.country_holidays(self.holidays, years=year)
        written = next((lang for lang in languages
                        if lang in getattr(calendar, "supported_languages", ())), None)
        if written is not None:
            calendar = holiday_calendars.country_holidays(self.holidays, years=year,
                                                          language=written)
        return sorted(calendar.items())

    def is_business_day(self, day: date) -> bool:
        if day in self.extra_open_days:
            return True
        if day in self.extra_closed_days:
            return False
        return day.weekday() in self._weekdays and day not in self._public_holidays(day.year)

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's open interval in UTC (arithmetic in UTC stays right across DST elsewhere)."""
        if not self.is_business_day(day):
            return None
        return (
            datetime.combine(day, self.open, self._zone).astimezone(UTC),
            datetime.combine(day, self.close, self._zone).astimezone(UTC),
        )

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self._zone).date()

    def is_open(self, moment: datetime) -> bool:
        _require_aware(moment, "moment")
        window = self._window(self._local_date(moment))
        return window is not None and window[0] <= moment < window[1]

    def add_business_seconds(self, start: datetime, seconds: int) -> datetime:
        """The earliest moment at which `seconds` of business time have passed since `start`."""
        _require_aware(start, "start")
        if seconds < 0:
            raise ValueError(f"seconds must not be negative, got {seconds}")
        remaining = timedelta(seconds=seconds)
        cursor = start.astimezone(UTC)
        if not remaining:
            return cursor.astimezone(self._zone)
        day = self._local_date(start)
        while True:
            window = self._window(day)
            if window is not None and cursor < window[1]:
                begin = max(cursor, window[0])
                available = window[1] - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(self._zone)
                remaining -= available
            day += _ONE_DAY

    def business_seconds_between(self, a: datetime, b: datetime) -> int:
        """Business seconds in [a, b); 0 when b is not after a."""
        _require_aware(a, "a")
        _require_aware(b, "b")
        a, b = a.astimezone(UTC), b.astimezone(UTC)
        total = timedelta()
        day = self._local_date(a)
        while day <= self._local_date(b):
            window = self._window(day)
            if window is not None:
                begin, end = max(a, window[0]), min(b, window[1])
                if begin < end:
                    total += end - begin
            day += _ONE_DAY
        return int(total.total_seconds())

    def sla_state(
        self,
        started_at: datetime,
        due_at: datetime,
        now: datetime,
        at_risk_fraction: float = 0.8,
    ) -> SlaState:
        """Breached once due; at risk once `at_risk_fraction` of the business time is used."""
        if not 0 < at_risk_fraction <= 1:
            raise ValueError(f"at_risk_fraction must be in (0, 1], got {at_risk_fraction}")
        _require_aware(due_at, "due_at")
        _require_aware(now, "now")
        if now >= due_at:
            return "breached"
        allowed = self.business_seconds_between(started_at, due_at)
        used = self.business_seconds_between(started_at, now)
        return "at_risk" if used >= at_risk_fraction * allowed else "ok"
