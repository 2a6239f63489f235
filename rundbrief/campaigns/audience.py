"""Who a campaign reaches: confirmed subscribers of any of its topics, and in its segment if it has one.

`audience_where` is that rule as one SQL condition with parameters. The snapshot that writes the
delivery ledger when sending starts (delivery/snapshot.py) and the count for the confirmation page
and the schedule event (`audience_count`) both use it, so the number shown and the rows written
follow one rule. The number can change until sending starts: people confirm and withdraw meanwhile.
"""

from django.db import connection

from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.audience.segments import segment_sql
from rundbrief.db.bulk import marks


def audience_where(campaign, *, alias="s", now=None):
    """(condition, parameters) over the subscriber table as `alias`; None when the campaign has no topics."""
    q = connection.ops.quote_name
    # The topic ids go in as constants: PostgreSQL then estimates the subscriptions from their
    # statistics. Joined to the tiny campaign-topics table, whose statistics autovacuum rarely
    # refreshes, it guessed 8,000 rows instead of a million and chose a plan 8× slower.
    topic_ids = list(campaign.topics.values_list("pk", flat=True))
    if not topic_ids:
        return None
    # SQLite: "+s.status" keeps the planner off the (status, requested_at) index. Through it the rows
    # come in requested_at order and a temporary B-tree sorts a million ids for ORDER BY; the plain
    # rowid scan already yields id order (EXPLAIN QUERY PLAN, docs/benchmarks.md). PostgreSQL
    # has no such unary plus on text, and chooses a sequential scan for a mostly confirmed table.
    status = f"+{alias}.status" if connection.vendor == "sqlite" else f"{alias}.status"
    # EXISTS rather than a join: a subscriber of two of the topics is one row, without DISTINCT.
    sql = f"""{status} = 'confirmed'
          AND EXISTS (
            SELECT 1 FROM {q(Subscription._meta.db_table)} sub
            WHERE sub.subscriber_id = {alias}.id AND sub.topic_id IN ({marks(len(topic_ids))})
          )"""
    params = list(topic_ids)
    if campaign.segment_id is not None:
        segment, segment_params = segment_sql(campaign.segment, alias=alias, now=now)
        sql += f"\n          AND {segment}"
        params += segment_params
    return sql, params


def audience_count(campaign) -> int:
    where = audience_where(campaign)
    if where is None:
        return 0
    sql, params = where
    table = connection.ops.quote_name(Subscriber._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table} s WHERE {sql}", params)
        return cursor.fetchone()[0]
