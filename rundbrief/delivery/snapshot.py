"""The audience snapshot: one INSERT … SELECT creates a Delivery row per eligible subscriber.

No Python loop over subscribers: a million rows are written by the database in
one statement. Eligible at scheduling time means confirmed and subscribed to at
least one of the campaign's topics; the engine checks consent again at send time.
"""

from django.db import connection
from django.utils import timezone

from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery


def snapshot_audience(campaign: Campaign) -> int:
    delivery = Delivery._meta.db_table
    subscriber = Subscriber._meta.db_table
    subscription = Subscription._meta.db_table
    campaign_topics = Campaign.topics.through._meta.db_table
    q = connection.ops.quote_name
    # DISTINCT through EXISTS: a subscriber of two of the campaign's topics is one row.
    # ON CONFLICT DO NOTHING keeps a repeated snapshot (resume after a crash) idempotent;
    # both SQLite (3.24+) and PostgreSQL understand it.
    sql = f"""
        INSERT INTO {q(delivery)} (campaign_id, subscriber_id, state, attempts, worker, last_reply, created_at)
        SELECT %s, s.id, 'queued', 0, '', '', %s
        FROM {q(subscriber)} s
        WHERE s.status = 'confirmed'
          AND EXISTS (
            SELECT 1 FROM {q(subscription)} sub
            JOIN {q(campaign_topics)} ct ON ct.topic_id = sub.topic_id AND ct.campaign_id = %s
            WHERE sub.subscriber_id = s.id
          )
        ORDER BY s.id
        ON CONFLICT (campaign_id, subscriber_id) DO NOTHING
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign.pk, now, campaign.pk])
        return cursor.rowcount
