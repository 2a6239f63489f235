"""Fixed-window counters kept in the database, so a limit holds across gunicorn workers and hosts."""

import hashlib
import hmac
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from rundbrief.audience.addresses import hash_key
from rundbrief.audience.models import RateCounter


def ip_key(ip: str) -> str:
    # The counter table must not become a second log of visitors' addresses; keyed, because
    # an unkeyed hash of an IPv4 address is reversed by trying all 2^32 of them.
    return "ip:" + hmac.new(hash_key(), (ip or "unknown").encode(), hashlib.sha256).hexdigest()[:40]


def hit(key: str, limit: int, window_seconds: int = 60, now=None) -> bool:
    """Count one request against `key`; False once the window holds more than `limit` requests."""
    now = now or timezone.now()
    start = now - timedelta(seconds=now.timestamp() % window_seconds)
    with transaction.atomic():
        updated = RateCounter.objects.filter(key=key, window_start=start).update(count=F("count") + 1)
        if not updated:
            try:
                with transaction.atomic():
                    RateCounter.objects.create(key=key, window_start=start, count=1)
            except IntegrityError:  # another worker created the window first
                RateCounter.objects.filter(key=key, window_start=start).update(count=F("count") + 1)
        count = RateCounter.objects.filter(key=key, window_start=start).values_list("count", flat=True).get()
    return count <= limit


def forget_old_windows(older_than=timedelta(hours=1)):
    return RateCounter.objects.filter(window_start__lt=timezone.now() - older_than).delete()[0]
