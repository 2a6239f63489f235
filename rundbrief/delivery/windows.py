"""The rate-window table: tokens of a transport's rate limit granted to workers, per fixed window.

Kept apart from ratelimit.py, which holds the limiters and knows no SQL (as the engine
knows none: docs/delivery.md). Both functions are safe under any number of concurrent
workers on SQLite and PostgreSQL.
"""

import time

from django.db import connection, transaction
from django.db.models import F

from rundbrief.delivery.models import RateWindow

TABLE = connection.ops.quote_name(RateWindow._meta.db_table)
# What this upsert adds to the window: nothing once it is spent, else up to what is left. SET
# expressions see the row as it was before the update (SQLite and PostgreSQL alike), so `granted`
# and `last_grant` both get the same share.
_SHARE = f"CASE WHEN {TABLE}.granted >= %s THEN 0 WHEN %s - {TABLE}.granted < %s THEN %s - {TABLE}.granted ELSE %s END"
_GRANT = (
    f"INSERT INTO {TABLE} (transport, window_seconds, window_start, granted, last_grant) VALUES (%s, %s, %s, %s, %s) "
    f"ON CONFLICT (transport, window_seconds, window_start) DO UPDATE SET "
    f"granted = {TABLE}.granted + {_SHARE}, last_grant = {_SHARE} RETURNING last_grant"
)
_FORGET = f"DELETE FROM {TABLE} WHERE transport = %s AND window_seconds = %s AND window_start < %s"


def grant(
    transport: str, window_seconds: int, window_start: int, limit: int, wanted: int, forget_before: int | None = None
) -> int:
    """Take up to `wanted` of the window's `limit` tokens; return how many were granted (0: spent).

    One upsert, atomic on its own: a row lock on PostgreSQL (INSERT … ON CONFLICT DO UPDATE),
    the write lock on SQLite (3.35+ for RETURNING). `forget_before` also deletes this transport's
    windows that start before it, in the same transaction. Inside `transaction.atomic` so that on
    SQLite the write queues on the writer lock like every other (docs/decisions.md).
    """
    first = min(wanted, limit)
    share = [limit, limit, wanted, limit, wanted]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_GRANT, [transport, window_seconds, window_start, first, first, *share, *share])
        (granted,) = cursor.fetchone()
        if forget_before is not None:
            cursor.execute(_FORGET, [transport, window_seconds, forget_before])
    return granted


def forget_old_windows(older_than_seconds: int = 3600, now: float | None = None) -> int:
    """Delete windows that ended more than `older_than_seconds` ago, of every transport (`rundbrief purge`).

    Workers already drop their own transports' old windows as they go; this catches the
    windows of transports no longer configured."""
    now = time.time() if now is None else now
    ended = RateWindow.objects.alias(end=F("window_start") + F("window_seconds"))
    return ended.filter(end__lt=int(now) - older_than_seconds).delete()[0]
