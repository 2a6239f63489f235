"""The audience snapshot: one INSERT … SELECT creates a Delivery row per eligible subscriber.

No Python loop over subscribers: a million rows are written by the database in
one statement. Eligible at scheduling time means confirmed and subscribed to at
least one of the campaign's topics; the engine checks consent again at send time.
"""

from contextlib import contextmanager

from django.db import connection
from django.utils import timezone

from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.campaigns.models import Campaign
from rundbrief.db.bulk import marks
from rundbrief.delivery.models import Delivery
from rundbrief.delivery.partitions import partition_name, prepare_partition


def snapshot_audience(campaign: Campaign) -> int:
    delivery = Delivery._meta.db_table
    subscriber = Subscriber._meta.db_table
    subscription = Subscription._meta.db_table
    q = connection.ops.quote_name
    # The topic ids go in as constants: PostgreSQL then estimates the subscriptions from their
    # statistics. Joined to the tiny campaign-topics table, whose statistics autovacuum rarely
    # refreshes, it guessed 8,000 rows instead of a million and chose a plan 8× slower.
    topic_ids = list(campaign.topics.values_list("pk", flat=True))
    if not topic_ids:
        return 0
    topics = marks(len(topic_ids))
    # PostgreSQL: the campaign's own partition of the ledger (delivery/partitions.py). start_campaign
    # has created it already in a short transaction of its own; this covers direct callers. Written
    # to directly: routing each of a million rows through the parent cost a third more time
    # (docs/benchmarks.md, "The ledger partitioned by campaign").
    if prepare_partition(campaign.pk):
        delivery = partition_name(campaign.pk)
    # SQLite: "+s.status" keeps the planner off the (status, requested_at) index. Through it the rows
    # come in requested_at order and a temporary B-tree sorts a million ids for ORDER BY; the plain
    # rowid scan already yields id order (EXPLAIN QUERY PLAN, docs/benchmarks.md). PostgreSQL
    # has no such unary plus on text, and chooses a sequential scan for a mostly confirmed table.
    status = "+s.status" if connection.vendor == "sqlite" else "s.status"
    # DISTINCT through EXISTS: a subscriber of two of the campaign's topics is one row.
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
        WHERE {status} = 'confirmed'
          AND EXISTS (
            SELECT 1 FROM {q(subscription)} sub WHERE sub.subscriber_id = s.id AND sub.topic_id IN ({topics})
          )
          AND NOT EXISTS (
            SELECT 1 FROM {q(delivery)} d WHERE d.campaign_id = %s AND d.subscriber_id = s.id
          )
        ORDER BY s.id
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with _large_page_cache(), connection.cursor() as cursor:
        cursor.execute(sql, [campaign.pk, now, *topic_ids, campaign.pk])
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
