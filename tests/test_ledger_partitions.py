"""The delivery ledger, one partition per campaign on PostgreSQL (delivery/partitions.py).

- a started campaign's rows live in its own partition; retention keeps the aggregates and drops it;
- a bounce that pointed at a dropped row keeps its record, with the link cleared (SET_NULL);
- rows written without a snapshot land in the default partition and are still found;
- the migration turns a plain ledger into a partitioned one and back, rows, ids and constraints kept.
The retention and bounce parts run on SQLite too, where one DELETE does what the DROP does.
"""

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from rundbrief.bounces.models import BounceEvent
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.actions import start_campaign
from rundbrief.delivery.models import Delivery
from rundbrief.delivery.partitions import DEFAULT_PARTITION, TABLE, partition_name, prepare_partition
from rundbrief.ops.models import DeliveryAggregate
from rundbrief.ops.retention import months_before, reduce_deliveries
from tests.support.campaigns import make_audience

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'")


def rows_per_table():
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text, count(*) FROM {TABLE} GROUP BY 1")
        return dict(cursor.fetchall())


def table_exists(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def started(topic, subject="Marktbericht"):
    campaign = Campaign.objects.create(
        name=subject,
        subject=subject,
        body="Der Goldpreis.",
        from_name="Musterhaus Edelmetalle",
        from_email="newsletter@musterhaus.example",
        state=Campaign.State.SCHEDULED,
        scheduled_at=timezone.now(),
    )
    campaign.topics.set([topic])
    return start_campaign(campaign.pk)


def finish_long_ago(campaign):
    finished = months_before(timezone.now(), 14)
    Delivery.objects.filter(campaign=campaign).update(state=Delivery.State.SENT, sent_at=finished)
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.FINISHED, finished_at=finished)


def test_retention_keeps_a_bounce_and_clears_its_link_to_the_dropped_row(finance):
    make_audience(finance, 3)
    campaign = started(finance)
    row = Delivery.objects.filter(campaign=campaign).first()
    bounce = BounceEvent.objects.create(
        delivery=row, campaign=campaign, kind="hard", source="dsn", recipient="leser0@example.org"
    )
    finish_long_ago(campaign)
    assert reduce_deliveries(13) == (1, 3)
    assert not Delivery.objects.filter(campaign=campaign).exists()
    assert DeliveryAggregate.objects.get(campaign=campaign, state="sent").count == 3
    bounce.refresh_from_db()
    assert bounce.delivery_id is None and bounce.campaign_id == campaign.pk


@postgres_only
def test_a_started_campaign_has_its_own_partition_and_retention_drops_it(finance):
    make_audience(finance, 5)
    first, second = started(finance, "eins"), started(finance, "zwei")
    assert rows_per_table() == {partition_name(first.pk): 5, partition_name(second.pk): 5}
    finish_long_ago(first)
    assert reduce_deliveries(13) == (1, 5)
    assert not table_exists(partition_name(first.pk))
    assert rows_per_table() == {partition_name(second.pk): 5}
    # The claim of the other campaign walks only its own partition.
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN SELECT id FROM {TABLE} WHERE campaign_id = %s AND state = 'queued'", [second.pk])
        plan = " ".join(line for (line,) in cursor.fetchall())
    assert partition_name(second.pk) in plan and DEFAULT_PARTITION not in plan


@postgres_only
def test_rows_written_without_a_snapshot_land_in_the_default_partition_and_stay_found(finance):
    make_audience(finance, 1)
    campaign = Campaign.objects.create(name="x", subject="x", body="x", state=Campaign.State.SENDING)
    subscriber = finance.subscriptions.first().subscriber
    row = Delivery.objects.create(campaign=campaign, subscriber=subscriber)
    assert rows_per_table() == {DEFAULT_PARTITION: 1}
    assert prepare_partition(campaign.pk) is False  # attaching would strand the row: it stays put
    assert Delivery.objects.get(campaign=campaign) == row
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(campaign=campaign, subscriber=subscriber)  # once per subscriber, still


@postgres_only
def test_deleting_a_campaign_drops_its_partition(finance):
    make_audience(finance, 2)
    campaign = started(finance)
    name = partition_name(campaign.pk)
    assert table_exists(name)
    campaign.delete()
    assert not table_exists(name)
    assert rows_per_table() == {}


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_migration_partitions_a_plain_ledger_and_back_keeping_rows_ids_and_constraints(finance):
    from django.db.migrations.executor import MigrationExecutor

    make_audience(finance, 4)
    campaign = started(finance)
    before = sorted(Delivery.objects.values_list("id", "campaign_id", "subscriber_id", "state"))
    plain = [("delivery", "0006_welcome_delivery")]
    MigrationExecutor(connection).migrate(plain)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [TABLE])
            assert cursor.fetchone()[0] == "r"
            cursor.execute(f"SELECT id, campaign_id, subscriber_id, state FROM {TABLE} ORDER BY 1")
            assert sorted(cursor.fetchall()) == before
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert sorted(Delivery.objects.values_list("id", "campaign_id", "subscriber_id", "state")) == before
    assert rows_per_table() == {partition_name(campaign.pk): 4}
    row = Delivery.objects.create(campaign=campaign, subscriber=None, created_at=timezone.now() - dt.timedelta(1))
    assert row.pk > max(b[0] for b in before), "the id sequence started over"
    with pytest.raises(IntegrityError), transaction.atomic():
        existing = Delivery.objects.filter(campaign=campaign).exclude(subscriber=None).first()
        Delivery.objects.create(campaign=campaign, subscriber_id=existing.subscriber_id)
