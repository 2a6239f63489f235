"""German dates: Django's, with a comma between date and time ("27.11.2026, 13:45"), as DIN 5008 writes it."""

DATETIME_FORMAT = "j. F Y, H:i"
SHORT_DATETIME_FORMAT = "d.m.Y, H:i"
