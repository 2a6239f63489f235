"""When a recurring digest is due: daily, weekly or monthly at a local time, in the site's time zone.

Pure date arithmetic, no database: every occurrence is a wall-clock time in `TIME_ZONE`
(Europe/Berlin), turned into UTC with zoneinfo, so "Monday 07:00" stays 07:00 local across the
changes to and from daylight saving time (docs/campaigns.md, "Recurring digests"):

- a local time that does not exist that day (02:30 when the clocks jump from 02:00 to 03:00) is
  due at the first moment after the gap, 03:00;
- a local time that exists twice (02:30 when the clocks fall back from 03:00 to 02:00) is due once,
  at its first occurrence (PEP 495 fold=0).
"""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DAILY, WEEKLY, MONTHLY = "daily", "weekly", "monthly"
RULES = (DAILY, WEEKLY, MONTHLY)
# Every month has a 28th: a digest "on the 31st" would have to skip or move in short months, and
# either surprises someone. Editors who want "the end of the month" pick the 28th or the 1st.
MONTH_DAYS = range(1, 29)
# How far to look for the next date that matches: a month and a bit covers every rule.
SEARCH_DAYS = 63

WEEKDAYS = {
    # English and German names and abbreviations, as typed on the command line; 0 = Monday (date.weekday()).
    **dict.fromkeys(["monday", "mon", "montag", "mo"], 0),
    **dict.fromkeys(["tuesday", "tue", "tues", "dienstag", "di"], 1),
    **dict.fromkeys(["wednesday", "wed", "mittwoch", "mi"], 2),
    **dict.fromkeys(["thursday", "thu", "thur", "thurs", "donnerstag", "do"], 3),
    **dict.fromkeys(["friday", "fri", "freitag", "fr"], 4),
    **dict.fromkeys(["saturday", "sat", "samstag", "sonnabend", "sa"], 5),
    **dict.fromkeys(["sunday", "sun", "sonntag", "so"], 6),
}
WEEKDAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class RecurrenceError(ValueError):
    """A schedule that cannot be: the message says why, in one line."""


@dataclass(frozen=True)
class Schedule:
    rule: str
    at: dt.time  # local wall-clock time, minutes only
    weekday: int | None = None  # WEEKLY: 0 = Monday … 6 = Sunday
    day: int | None = None  # MONTHLY: 1 … 28

    def __post_init__(self):
        if self.rule not in RULES:
            raise RecurrenceError(f"unknown rule {self.rule!r}: expected one of {', '.join(RULES)}")
        if self.rule == WEEKLY and self.weekday not in range(7):
            raise RecurrenceError("a weekly digest needs a weekday")
        if self.rule == MONTHLY and self.day not in MONTH_DAYS:
            raise RecurrenceError(f"the day of the month must be 1 to 28 (every month has it), not {self.day}")

    def matches(self, date: dt.date) -> bool:
        if self.rule == WEEKLY:
            return date.weekday() == self.weekday
        if self.rule == MONTHLY:
            return date.day == self.day
        return True

    def describe(self) -> str:
        """In English, for the command line: `weekly monday 07:00`."""
        when = self.at.strftime("%H:%M")
        if self.rule == WEEKLY:
            return f"weekly {WEEKDAY_NAMES[self.weekday]} {when}"
        if self.rule == MONTHLY:
            return f"monthly {self.day} {when}"
        return f"daily {when}"


def parse_time(text: str) -> dt.time:
    """HH:MM, 00:00 to 23:59."""
    hours, sep, minutes = text.strip().partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and len(hours) <= 2):
        raise RecurrenceError(f"time {text!r} is not HH:MM, e.g. 07:00")
    if int(hours) > 23 or int(minutes) > 59:
        raise RecurrenceError(f"time {text!r} does not exist: HH is 00 to 23, MM 00 to 59")
    return dt.time(int(hours), int(minutes))


def parse_weekday(text: str) -> int:
    try:
        return WEEKDAYS[text.strip().lower()]
    except KeyError:
        raise RecurrenceError(f"day {text!r} is not a weekday: monday … sunday, mon … sun (or German)") from None


def parse_month_day(text: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and int(text) in MONTH_DAYS):
        raise RecurrenceError(f"day of the month {text!r} must be 1 to 28 (every month has it)")
    return int(text)


def occurrence_on(schedule: Schedule, date: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The moment (UTC) that `schedule`'s local time names on `date` in `tz`."""
    local = dt.datetime.combine(date, schedule.at, tzinfo=tz)  # fold=0: the first of a repeated hour
    moment = local.astimezone(dt.UTC)
    if moment.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
        return moment
    return _end_of_gap(local, tz)


def _end_of_gap(local: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The first moment after a skipped stretch of wall-clock time (the clocks jumped over `local`).

    Read with the offset after the jump, `local` names an instant before the gap; read with the
    offset before it, one after. The jump lies between: find it to the second."""
    wall = local.replace(tzinfo=None)
    early = local.replace(fold=1).astimezone(dt.UTC)
    late = local.replace(fold=0).astimezone(dt.UTC)
    if early > late:
        early, late = late, early
    while late - early > dt.timedelta(seconds=1):
        middle = early + (late - early) / 2
        if middle.astimezone(tz).replace(tzinfo=None) < wall:
            early = middle
        else:
            late = middle
    return late.replace(microsecond=0)


def _dates_from(date: dt.date, step: int):
    for offset in range(SEARCH_DAYS):
        yield date + dt.timedelta(days=offset * step)


def next_occurrence(schedule: Schedule, after: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The first due moment strictly after `after`."""
    # From the day before: near midnight the local date and the UTC date differ.
    start = after.astimezone(tz).date() - dt.timedelta(days=1)
    for date in _dates_from(start, 1):
        if schedule.matches(date) and (moment := occurrence_on(schedule, date, tz)) > after:
            return moment
    raise AssertionError(f"no occurrence of {schedule} within {SEARCH_DAYS} days")  # every rule has one


def previous_occurrence(schedule: Schedule, before: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The last due moment strictly before `before`."""
    start = before.astimezone(tz).date() + dt.timedelta(days=1)
    for date in _dates_from(start, -1):
        if schedule.matches(date) and (moment := occurrence_on(schedule, date, tz)) < before:
            return moment
    raise AssertionError(f"no occurrence of {schedule} within {SEARCH_DAYS} days")


def latest_occurrence(schedule: Schedule, due: dt.datetime, now: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """Of the occurrences from `due` (itself one, at or before `now`) up to `now`, the last.

    A worker that was down for three days issues the digest once, for the latest time it missed."""
    return max(due, previous_occurrence(schedule, now + dt.timedelta(microseconds=1), tz))
