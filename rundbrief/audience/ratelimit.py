"""Fixed-window counters kept in the database, so a limit holds across gunicorn workers and hosts."""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.models import RateCounter


def ip_key(ip: str) -> str:
    # The counter table must not become a second log of visitors' addresses; keyed, because
    # an unkeyed hash of an IPv4 address is reversed by trying all 2^32 of them.
    # The same keyed HMAC that stands in for addresses (addresses.subject_hash).
    return "ip:" + subject_hash(ip or "unknown")[:40]


def hit(key: str, limit: int, window_seconds: int = 60, now=None) -> bool:
    """Count one request against `key`; False once the window holds more than `limit` requests."""
    now = now or timezone.now()
    start = now - timedelta(seconds=now.timestamp() % window_seconds)
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    # One statement, atomic on its own: an upsert that returns the new count. It replaces
    # UPDATE, INSERT-on-miss in a savepoint and SELECT in a transaction — a sign-up holds the
    # SQLite write lock for far shorter (docs/benchmarks.md). SQLite 3.35+ and PostgreSQL.
    sql = (
        f"INSERT INTO {table} (key, window_start, count) VALUES (%s, %s, 1) "
        f"ON CONFLICT (key, window_start) DO UPDATE SET count = {table}.count + 1 RETURNING count"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [key, connection.ops.adapt_datetimefield_value(start)])
        (count,) = cursor.fetchone()
    return count <= limit


def signup_allowed(ip: str) -> bool:
    """Count one sign-up (form or API) against the per-IP window and the global breaker.

    A request refused for its IP does not count against the global breaker, so one
    sender cannot trip it for everyone. Call it inside the sign-up's transaction: the
    counters then commit with the request instead of as writes of their own.
    """
    if not hit(ip_key(ip), settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE):
        return False
    return hit("signup:global", settings.RUNDBRIEF_SIGNUP_GLOBAL_PER_MINUTE)


def forget_old_windows(older_than=timedelta(hours=1)):
    return RateCounter.objects.filter(window_start__lt=timezone.now() - older_than).delete()[0]
