"""Counting in fixed windows, atomically across processes: the one store behind every rate limit.

- `count`: one more request under a key in the current window; returns the new count
  (the sign-up limits, audience/ratelimit.py: a refused request counts too).
- `grant`: up to `wanted` of a window's `limit` tokens; returns how many were granted
  (the transports' global limits, delivery/ratelimit.py, which take tokens in chunks).
- `current`: the count so far, without counting (the admin login throttle, ops/loginthrottle.py).
- `forget_old_windows`: delete the windows that ended long enough ago, of every key
  (`rundbrief purge`).

Each of `count` and `grant` is one statement, atomic on its own on SQLite (3.35+ for
RETURNING) and PostgreSQL: `INSERT … ON CONFLICT DO UPDATE … RETURNING` takes the row's lock
(PostgreSQL) or the write lock (SQLite) and returns the new value, so no read precedes the
write and no two processes can both see the window's last token. The table is
models.RateWindow; docs/decisions.md, "One store of rate windows".
"""

import time

from django.db import connection, transaction
from django.db.models import F

from rundbrief.db.models import RateWindow

TABLE = connection.ops.quote_name(RateWindow._meta.db_table)
_COLUMNS = "(key, window_seconds, window_start, count, last_grant)"
_CONFLICT = "ON CONFLICT (key, window_seconds, window_start) DO UPDATE SET"

_COUNT = (
    f"INSERT INTO {TABLE} {_COLUMNS} VALUES (%s, %s, %s, 1, 0) {_CONFLICT} count = {TABLE}.count + 1 RETURNING count"
)

# What a grant adds to the window: nothing once it is spent, else up to what is left. SET
# expressions see the row as it was before the update (SQLite and PostgreSQL alike), so `count`
# and `last_grant` both get the same share.
_SHARE = f"CASE WHEN {TABLE}.count >= %s THEN 0 WHEN %s - {TABLE}.count < %s THEN %s - {TABLE}.count ELSE %s END"
_GRANT = (
    f"INSERT INTO {TABLE} {_COLUMNS} VALUES (%s, %s, %s, %s, %s) "
    f"{_CONFLICT} count = {TABLE}.count + {_SHARE}, last_grant = {_SHARE} RETURNING last_grant"
)
_FORGET_KEY = f"DELETE FROM {TABLE} WHERE key = %s AND window_seconds = %s AND window_start < %s"


def start_of(now: float, window_seconds: int) -> int:
    """The start of the window of `window_seconds` that holds `now` (Unix time): a multiple of its length."""
    return int(now // window_seconds) * window_seconds


def count(key: str, window_seconds: int, now: float | None = None) -> int:
    """Count one more under `key` in the window holding `now` (Unix time); return the window's new count.

    Not in a transaction of its own: called inside a request's transaction, the count commits
    with it instead of as a write of its own (docs/benchmarks.md, sign-up)."""
    now = time.time() if now is None else now
    with connection.cursor() as cursor:
        cursor.execute(_COUNT, [key, window_seconds, start_of(now, window_seconds)])
        (counted,) = cursor.fetchone()
    return counted


def current(key: str, window_seconds: int, now: float | None = None) -> int:
    """The count under `key` in the window holding `now`, without counting (the login throttle asks
    before it tries, and counts only failures)."""
    now = time.time() if now is None else now
    row = RateWindow.objects.filter(
        key=key, window_seconds=window_seconds, window_start=start_of(now, window_seconds)
    ).values_list("count", flat=True)
    return row.first() or 0


def grant(
    key: str, window_seconds: int, window_start: int, limit: int, wanted: int, forget_before: int | None = None
) -> int:
    """Take up to `wanted` of the window's `limit` tokens; return how many were granted (0: spent).

    `window_start` is the caller's (it must know which window its tokens belong to).
    `forget_before` also deletes this key's windows of this length that start before it, in
    the same transaction. Inside `transaction.atomic` so that on SQLite the write queues on the
    writer lock like every other (docs/decisions.md, "SQLite writers wait in the kernel").
    """
    first = min(wanted, limit)
    share = [limit, limit, wanted, limit, wanted]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_GRANT, [key, window_seconds, window_start, first, first, *share, *share])
        (granted,) = cursor.fetchone()
        if forget_before is not None:
            cursor.execute(_FORGET_KEY, [key, window_seconds, forget_before])
    return granted


def forget_old_windows(older_than_seconds: int = 3600, now: float | None = None) -> int:
    """Delete the windows, of every key, that ended more than `older_than_seconds` ago; return how many.

    Sign-up windows are worthless a minute after they end; a transport's workers drop their
    own as they go, so this catches the windows of transports no longer configured."""
    now = time.time() if now is None else now
    ended = RateWindow.objects.alias(end=F("window_start") + F("window_seconds"))
    return ended.filter(end__lt=int(now) - older_than_seconds).delete()[0]
