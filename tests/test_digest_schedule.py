"""When a recurring digest is due: local wall-clock times in Europe/Berlin, across both daylight
saving changes (2026: clocks forward on 29 March, back on 25 October)."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from rundbrief.campaigns.recurrence import (
    DAILY,
    MONTHLY,
    WEEKLY,
    RecurrenceError,
    Schedule,
    latest_occurrence,
    next_occurrence,
    parse_month_day,
    parse_time,
    parse_weekday,
    previous_occurrence,
)

BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC


def berlin(*args, fold=0):
    return dt.datetime(*args, tzinfo=BERLIN, fold=fold)


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


MONDAY_0700 = Schedule(WEEKLY, dt.time(7, 0), weekday=0)


def test_daily_is_due_later_the_same_day_or_else_the_next():
    daily = Schedule(DAILY, dt.time(7, 0))
    assert next_occurrence(daily, berlin(2026, 4, 7, 6, 59), BERLIN) == berlin(2026, 4, 7, 7, 0)
    # Strictly after: the moment it was due is not due again.
    assert next_occurrence(daily, berlin(2026, 4, 7, 7, 0), BERLIN) == berlin(2026, 4, 8, 7, 0)


def test_daily_near_midnight_uses_the_local_date_not_the_utc_date():
    late = Schedule(DAILY, dt.time(0, 30))
    # 23:45 UTC on 6 April is 01:45 on 7 April in Berlin: the next 00:30 is on the 8th.
    assert next_occurrence(late, utc(2026, 4, 6, 23, 45), BERLIN) == berlin(2026, 4, 8, 0, 30)


def test_weekly_monday_0700_stays_0700_local_across_the_spring_change():
    before = next_occurrence(MONDAY_0700, berlin(2026, 3, 22, 12, 0), BERLIN)
    after = next_occurrence(MONDAY_0700, before, BERLIN)
    assert before == utc(2026, 3, 23, 6, 0)  # CET, UTC+1
    assert after == utc(2026, 3, 30, 5, 0)  # CEST, UTC+2: one hour less than a week later
    assert after.astimezone(BERLIN).time() == dt.time(7, 0)


def test_weekly_monday_0700_stays_0700_local_across_the_autumn_change():
    before = next_occurrence(MONDAY_0700, berlin(2026, 10, 18, 12, 0), BERLIN)
    after = next_occurrence(MONDAY_0700, before, BERLIN)
    assert before == utc(2026, 10, 19, 5, 0)  # CEST
    assert after == utc(2026, 10, 26, 6, 0)  # CET
    assert after - before == dt.timedelta(days=7, hours=1)


def test_a_local_time_that_does_not_exist_is_due_when_the_gap_ends():
    night = Schedule(DAILY, dt.time(2, 30))
    due = next_occurrence(night, berlin(2026, 3, 28, 12, 0), BERLIN)
    # 02:30 on 29 March is skipped (02:00 → 03:00): the first moment after is 03:00 CEST.
    assert due == utc(2026, 3, 29, 1, 0)
    assert due.astimezone(BERLIN).time() == dt.time(3, 0)
    assert next_occurrence(night, due, BERLIN) == berlin(2026, 3, 30, 2, 30)


def test_a_local_time_that_exists_twice_is_due_once_at_its_first_occurrence():
    night = Schedule(DAILY, dt.time(2, 30))
    first = next_occurrence(night, berlin(2026, 10, 24, 12, 0), BERLIN)
    assert first == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    # The second 02:30 that night (CET, 01:30 UTC) is not another issue.
    assert next_occurrence(night, first, BERLIN) == utc(2026, 10, 26, 1, 30)


def test_monthly_on_the_28th_exists_in_february():
    monthly = Schedule(MONTHLY, dt.time(9, 0), day=28)
    due = next_occurrence(monthly, berlin(2026, 1, 29, 0, 0), BERLIN)
    assert due == berlin(2026, 2, 28, 9, 0)
    assert next_occurrence(monthly, due, BERLIN) == berlin(2026, 3, 28, 9, 0)
    assert previous_occurrence(monthly, due, BERLIN) == berlin(2026, 1, 28, 9, 0)


@pytest.mark.parametrize("day", [0, 29, 31])
def test_monthly_days_after_the_28th_are_refused(day):
    with pytest.raises(RecurrenceError, match="1 to 28"):
        Schedule(MONTHLY, dt.time(9, 0), day=day)


def test_a_worker_down_for_three_days_issues_the_latest_missed_time_once():
    daily = Schedule(DAILY, dt.time(7, 0))
    missed_first = berlin(2026, 4, 6, 7, 0)
    back_up = berlin(2026, 4, 9, 8, 15)
    assert latest_occurrence(daily, missed_first, back_up, BERLIN) == berlin(2026, 4, 9, 7, 0)
    assert next_occurrence(daily, back_up, BERLIN) == berlin(2026, 4, 10, 7, 0)
    # Not late at all: the due time itself.
    assert latest_occurrence(daily, missed_first, berlin(2026, 4, 6, 7, 0, 5), BERLIN) == missed_first


def test_previous_occurrence_is_one_period_back():
    assert previous_occurrence(MONDAY_0700, berlin(2026, 3, 30, 7, 0), BERLIN) == berlin(2026, 3, 23, 7, 0)


@pytest.mark.parametrize(
    "text, weekday",
    [("monday", 0), ("Mon", 0), ("TUE", 1), ("wednesday", 2), ("Donnerstag", 3), ("fr", 4), ("sat", 5), ("So", 6)],
)
def test_weekdays_in_english_and_german(text, weekday):
    assert parse_weekday(text) == weekday


@pytest.mark.parametrize("text", ["25:00", "07:60", "7", "07-00", "ab:cd", "07:5", ""])
def test_bad_times_are_refused(text):
    with pytest.raises(RecurrenceError):
        parse_time(text)


def test_times_and_days_are_parsed():
    assert parse_time("07:00") == dt.time(7, 0) and parse_time("7:05") == dt.time(7, 5)
    assert parse_month_day("28") == 28
    with pytest.raises(RecurrenceError):
        parse_weekday("someday")
    with pytest.raises(RecurrenceError):
        parse_month_day("30")
