from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from routing.sla import BusinessCalendar, parse_duration

BAKU = ZoneInfo("Asia/Baku")
CALENDAR = BusinessCalendar()
TWO_HOURS = 2 * 3600


def baku(*args: int) -> datetime:
    return datetime(*args, tzinfo=BAKU)


@pytest.mark.parametrize(
    ("start", "seconds", "due"),
    [
        # Friday evening: the clock stops at 18:00 and resumes Monday 09:00.
        (baku(2026, 4, 17, 17, 30), TWO_HOURS, baku(2026, 4, 20, 10, 30)),
        # Ends exactly at closing time: due then, not on the next morning.
        (baku(2026, 4, 17, 17, 30), 30 * 60, baku(2026, 4, 17, 18, 0)),
        # Received at night: the clock starts at opening.
        (baku(2026, 4, 14, 2, 0), TWO_HOURS, baku(2026, 4, 14, 11, 0)),
        (baku(2026, 4, 14, 20, 0), 30 * 60, baku(2026, 4, 15, 9, 30)),
        # Received on a Saturday.
        (baku(2026, 4, 18, 12, 0), 90, baku(2026, 4, 20, 9, 1, 30)),
        # Novruz 2026 (20-27 March, per the holidays library) joins the weekend and the
        # observed Ramazan bayramı on Monday 30 March: the next working day is Tuesday 31.
        (baku(2026, 3, 19, 17, 0), TWO_HOURS, baku(2026, 3, 31, 10, 0)),
        # Novruz 2027 (20-26 March): Friday 19 March 17:30 -> Monday 29 March.
        (baku(2027, 3, 19, 17, 30), TWO_HOURS, baku(2027, 3, 29, 10, 30)),
        # 20 January (Martyrs' Day) 2026 is a Tuesday.
        (baku(2026, 1, 19, 17, 0), TWO_HOURS, baku(2026, 1, 21, 10, 0)),
        # Five business days from Monday morning end on Friday at closing time.
        (baku(2026, 4, 13, 9, 0), 5 * 9 * 3600, baku(2026, 4, 17, 18, 0)),
        (baku(2026, 4, 13, 10, 0), 5 * 9 * 3600, baku(2026, 4, 20, 10, 0)),
        # New Year: 31 Dec, 1 and 2 Jan 2026 closed, then the weekend.
        (baku(2025, 12, 30, 17, 0), TWO_HOURS, baku(2026, 1, 5, 10, 0)),
        (baku(2026, 4, 14, 11, 15), 0, baku(2026, 4, 14, 11, 15)),
    ],
)
def test_add_business_seconds(start, seconds, due):
    result = CALENDAR.add_business_seconds(start, seconds)
    assert result == due
    assert result.tzinfo == BAKU
    # The inverse: exactly that much business time lies between the two.
    assert CALENDAR.business_seconds_between(start, result) == seconds


def test_input_in_another_zone_comes_back_in_baku_time():
    due = CALENDAR.add_business_seconds(datetime(2026, 4, 17, 13, 30, tzinfo=UTC), TWO_HOURS)
    assert due.isoformat() == "2026-04-20T10:30:00+04:00"


def test_baku_has_no_daylight_saving():
    for month in (1, 4, 7, 10, 12):
        assert baku(2026, month, 10, 12).utcoffset() == timedelta(hours=4)
    # 09:00 in Baku is 05:00 UTC all year round.
    assert CALENDAR.is_open(datetime(2026, 7, 14, 5, 0, tzinfo=UTC))
    assert not CALENDAR.is_open(datetime(2026, 1, 14, 4, 59, tzinfo=UTC))
    assert CALENDAR.is_open(datetime(2026, 1, 14, 9, 0, tzinfo=timezone(timedelta(hours=4))))


def test_extra_closed_day_from_config():
    calendar = BusinessCalendar(extra_closed_days={date(2026, 4, 20)})
    assert calendar.add_business_seconds(baku(2026, 4, 17, 17, 30), TWO_HOURS) == baku(
        2026, 4, 21, 10, 30
    )


def test_extra_open_day_from_config_beats_weekend_and_holiday():
    calendar = BusinessCalendar(extra_open_days={date(2026, 4, 18), date(2026, 3, 23)})
    assert calendar.add_business_seconds(baku(2026, 4, 17, 17, 30), TWO_HOURS) == baku(
        2026, 4, 18, 10, 30
    )
    assert calendar.is_open(baku(2026, 3, 23, 12, 0))


def test_without_public_holidays_novruz_is_a_working_week():
    calendar = BusinessCalendar(holidays=None)
    assert calendar.add_business_seconds(baku(2026, 3, 19, 17, 0), TWO_HOURS) == baku(
        2026, 3, 20, 10, 0
    )


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (baku(2026, 4, 14, 9, 0), True),
        (baku(2026, 4, 14, 17, 59, 59), True),
        (baku(2026, 4, 14, 8, 59, 59), False),
        (baku(2026, 4, 14, 18, 0), False),
        (baku(2026, 4, 18, 12, 0), False),  # Saturday
        (baku(2026, 3, 23, 12, 0), False),  # Novruz
        (baku(2026, 5, 11, 12, 0), False),  # 9 May fell on a Saturday: observed Monday
        (baku(2026, 5, 28, 12, 0), False),  # Independence Day
        (baku(2026, 6, 15, 12, 0), False),  # National Liberation Day
        (baku(2026, 11, 9, 12, 0), False),  # National Flag Day
        (baku(2026, 11, 10, 12, 0), False),  # Victory Day (8 Nov, a Sunday) observed
        (baku(2026, 12, 31, 12, 0), False),  # Solidarity Day
    ],
)
def test_is_open(moment, expected):
    assert CALENDAR.is_open(moment) is expected


def test_business_seconds_between():
    assert CALENDAR.business_seconds_between(baku(2026, 4, 17, 17), baku(2026, 4, 20, 10)) == 7200
    # Night to night spans exactly one full business day.
    assert CALENDAR.business_seconds_between(baku(2026, 4, 13, 22), baku(2026, 4, 14, 23)) == 32400
    # All of Novruz 2026 and the weekends around it count for nothing.
    assert CALENDAR.business_seconds_between(baku(2026, 3, 19, 18), baku(2026, 3, 31, 9)) == 0
    assert CALENDAR.business_seconds_between(baku(2026, 4, 20, 10), baku(2026, 4, 17, 17)) == 0


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (baku(2026, 4, 17, 17, 59), "ok"),  # 29 of 120 business minutes used
        (baku(2026, 4, 19, 12, 0), "ok"),  # Sunday: the clock is stopped at 30 minutes
        (baku(2026, 4, 20, 10, 5, 59), "ok"),
        (baku(2026, 4, 20, 10, 6), "at_risk"),  # 96 of 120 minutes = 80%
        (baku(2026, 4, 20, 10, 29, 59), "at_risk"),
        (baku(2026, 4, 20, 10, 30), "breached"),
        (baku(2026, 4, 25, 12, 0), "breached"),
    ],
)
def test_sla_state(now, state):
    started = baku(2026, 4, 17, 17, 30)
    due = CALENDAR.add_business_seconds(started, TWO_HOURS)
    assert CALENDAR.sla_state(started, due, now) == state


def test_sla_state_with_another_risk_fraction():
    started, due = baku(2026, 4, 14, 9), baku(2026, 4, 14, 11)
    assert CALENDAR.sla_state(started, due, baku(2026, 4, 14, 10), at_risk_fraction=0.5) == (
        "at_risk"
    )
    with pytest.raises(ValueError, match="at_risk_fraction"):
        CALENDAR.sla_state(started, due, started, at_risk_fraction=0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("5d", 5 * 32400), ("1h30m", 5400),
     (" 2h ", 7200), ("0s", 0)],
)  # fmt: skip
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "1.5h", "-2h", "30m2h", "2 h", "2H"])
def test_parse_duration_names_the_bad_text(text):
    with pytest.raises(ValueError, match=f"invalid duration '{text}'"):
        parse_duration(text)


def test_a_business_day_is_the_calendar_opening_length():
    calendar = BusinessCalendar(open=time(10), close=time(14))
    assert calendar.business_day_s == 4 * 3600
    assert CALENDAR.business_day_s == 9 * 3600
    assert parse_duration("2d", business_day_s=calendar.business_day_s) == 8 * 3600


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        CALENDAR.add_business_seconds(datetime(2026, 4, 14, 9), 60)
    with pytest.raises(ValueError, match="timezone-aware"):
        CALENDAR.is_open(datetime(2026, 4, 14, 9))


def test_negative_seconds_are_refused():
    with pytest.raises(ValueError, match="-5"):
        CALENDAR.add_business_seconds(baku(2026, 4, 14, 9), -5)


@pytest.mark.parametrize(
    "settings",
    [
        {"days": frozenset()},
        {"days": frozenset({"monday"})},
        {"open": time(18), "close": time(9)},
        {"holidays": "XX"},
    ],
)
def test_bad_calendar_settings_are_refused(settings):
    with pytest.raises(ValueError):
        BusinessCalendar(**settings)


def test_the_years_public_holidays_are_named_in_the_language_the_calendar_writes():
    named = dict(CALENDAR.named_public_holidays(2026, ("az",)))
    assert named[date(2026, 1, 1)] == "Yeni il bayramı"
    assert "Novruz" in named[date(2026, 3, 20)]
    english = dict(CALENDAR.named_public_holidays(2026, ("ru", "en_US")))   # no Russian names
    assert english[date(2026, 1, 1)] == "New Year's Day"
    assert sorted(english) == sorted(named)
    assert BusinessCalendar(holidays=None).named_public_holidays(2026, ("az",)) == []
