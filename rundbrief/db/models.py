"""The rate-window table: counts in fixed windows, shared by every process using the database.

One table for every limit that must hold across gunicorn workers, delivery workers and hosts:
the sign-up limits (audience/ratelimit.py) and the transports' `per_second`/`per_hour`
(delivery/ratelimit.py). The SQL that counts and grants is in windows.py.
"""

from django.db import models


class RateWindow(models.Model):
    """What was counted, or granted, under one key in one fixed window.

    `key` names the limit and is the caller's namespace: `ip:<keyed hash>` and `signup:global`
    for sign-ups, `<host>:<port>:<hash of the SMTP user>` for a transport (never its password).
    Windows start at multiples of their length in Unix time, so every process agrees on them
    as far as the clocks agree (NTP). Old windows are deleted by `rundbrief purge`, and a
    transport's also by the workers as they go.
    """

    key = models.CharField(max_length=100)
    window_seconds = models.PositiveIntegerField()  # 60 for sign-ups, 1 or 3600 for a transport
    window_start = models.BigIntegerField()  # Unix time, a multiple of window_seconds
    count = models.PositiveIntegerField(default=0)  # requests counted, or tokens granted
    last_grant = models.PositiveIntegerField(default=0)  # what the latest grant added: its RETURNING value

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window_seconds", "window_start"], name="rundbrief_db_rate_window")
        ]

    def __str__(self):
        return f"{self.key} {self.window_seconds}s@{self.window_start}: {self.count}"
