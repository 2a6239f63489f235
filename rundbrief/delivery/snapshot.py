"""The audience snapshot: one INSERT … SELECT creates a Delivery row per eligible subscriber.

No Python loop over subscribers: a million rows are written by the database in
one statement. Eligible when sending starts means confirmed, subscribed to at least one of the
campaign's topics and in its segment, if it has one (campaigns/audience.py); the engine checks
consent again at send time.
"""

from contextlib import contextmanager

from django.db import connection
from django.utils import timezone

from rundbrief.audience.models import Subscriber
from rundbrief.campaigns.audience import audience_where
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery
from rundbrief.delivery.partitions import partition_name, prepare_partition


def snapshot_audience(campaign: Campaign) -> int:
    delivery = Delivery._meta.db_table
    subscriber = Subscriber._meta.db_table
    q = connection.ops.quote_name
    # Who is eligible is decided by campaigns/audience.py: the same condition the confirmation page
    # counts with (confirmed, any of the topics, the segment if one is set).
    now = timezone.now()
    where = audience_where(campaign, alias="s", now=now)
    if where is None:
        return 0
    condition, params = where
    # PostgreSQL: the campaign's own partition of the ledger (delivery/partitions.py). start_campaign
    # has created it already in a short transaction of its own; this covers direct callers. Written
    # to directly: routing each of a million rows through the parent cost a third more time
    # (docs/benchmarks.md, "The ledger partitioned by campaign").
    if prepare_partition(campaign.pk):
        delivery = partition_name(campaign.pk)
    # NOT EXISTS keeps a repeated snapshot idempotent. It replaced ON CONFLICT DO NOTHING, which
    # PostgreSQL implements as a speculative insertion — an extra WAL record and a confirm per row:
    # 14.6 s against 9.1 s for a million rows (docs/benchmarks.md). Two snapshots of one campaign
    # never race: start_campaign holds the campaign row locked, and the unique constraint
    # would still refuse a second row. ORDER BY s.id appends to every index of the ledger in key
    # order, which keeps their maintenance sequential.
    sql = f"""
        INSERT INTO {q(delivery)} (campaign_id, subscriber_id, state, attempts, worker, last_reply, created_at)
        SELECT %s, s.id, 'queued', 0, '', '', %s
        FROM {q(subscriber)} s
        WHERE {condition}
          AND NOT EXISTS (
            SELECT 1 FROM {q(delivery)} d WHERE d.campaign_id = %s AND d.subscriber_id = s.id
          )
        ORDER BY s.id
    """
    created = connection.ops.adapt_datetimefield_value(now)
    with _large_page_cache(), connection.cursor() as cursor:
        cursor.execute(sql, [campaign.pk, created, *params, campaign.pk])
        return cursor.rowcount


# SQLite's default page cache (2 MB) spills the ledger's five B-trees to the WAL many times over
# while a million rows go in; 64 MB holds their working set. Given back right after the statement.
SNAPSHOT_CACHE_KIB = 65536


@contextmanager
def _large_page_cache():
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = -{SNAPSHOT_CACHE_KIB}")
        try:
            yield
        finally:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")
