"""English dates as readers outside the US write them: "27 Nov 2026, 13:45", a 24-hour clock.

Django's own English formats are American ("Nov. 27, 2026", "11/27/2026", "1:45 p.m."); an
English-speaking reader of a European site expects day before month. Only what differs from
Django's formats is set here; the rest (numbers: 1,234.5) comes from Django's.
"""

DATE_FORMAT = "j F Y"  # 27 November 2026
SHORT_DATE_FORMAT = "j M Y"  # 27 Nov 2026
TIME_FORMAT = "H:i"  # 13:45
DATETIME_FORMAT = "j F Y, H:i"
SHORT_DATETIME_FORMAT = "j M Y, H:i"  # 27 Nov 2026, 13:45
MONTH_DAY_FORMAT = "j F"
