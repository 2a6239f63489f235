"""Storage limitation (GDPR Art. 5(1)(e)): old delivery rows, evidence and raw bounces go; the ledger verifies."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from rundbrief.audience.ledger import verify_chain
from rundbrief.audience.models import ConsentEvent, ConsentEvidence
from rundbrief.bounces.models import BounceEvent
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery
from rundbrief.ops.models import DeliveryAggregate
from rundbrief.ops.retention import months_before, reduce_deliveries, remove_old_evidence
from rundbrief.ops.worker import daily_housekeeping
from tests.support.campaigns import make_audience, scheduled_campaign
from tests.support.readers import reader

pytestmark = pytest.mark.django_db


def finished_campaign(topic, *, months_ago, sent_minutes=(0, 0, 1, 2), failed=1, subject="Marktbericht"):
    make_audience(topic, len(sent_minutes) + failed, prefix=f"r{months_ago}x")
    campaign = scheduled_campaign([topic], subject=subject)
    finished = months_before(timezone.now(), months_ago)
    rows = list(Delivery.objects.filter(campaign=campaign).order_by("pk"))
    for row, minute in zip(rows, sent_minutes, strict=False):
        row.state, row.sent_at = Delivery.State.SENT, finished + dt.timedelta(minutes=minute, seconds=5)
    for row in rows[len(sent_minutes) :]:
        row.state = Delivery.State.FAILED
    Delivery.objects.bulk_update(rows, ["state", "sent_at"])
    Campaign.objects.filter(pk=campaign.pk).update(
        state=Campaign.State.FINISHED, created_at=finished, finished_at=finished
    )
    return campaign


def test_delivery_rows_of_campaigns_finished_over_13_months_ago_become_aggregates_with_their_curve(finance):
    old = finished_campaign(finance, months_ago=14, subject="alt")
    recent = finished_campaign(finance, months_ago=2, subject="neu")
    recent_rows = Delivery.objects.filter(campaign=recent).count()
    assert reduce_deliveries(13) == (1, 5)
    assert not Delivery.objects.filter(campaign=old).exists()
    assert Delivery.objects.filter(campaign=recent).count() == recent_rows
    aggregates = {a.state: a for a in DeliveryAggregate.objects.filter(campaign=old)}
    assert {s: a.count for s, a in aggregates.items()} == {"sent": 4, "failed": 1}
    assert aggregates["sent"].per_minute == {"0": 2, "1": 1, "2": 1}
    assert reduce_deliveries(13) == (0, 0)  # idempotent


def test_old_evidence_goes_except_for_confirmed_readers_and_the_chain_still_verifies(db, topics):
    reader("bleibt@example.de")
    reader("ging@example.de", withdraw=True)
    reader("nie-bestaetigt@example.de", confirm=False)
    events = ConsentEvent.objects.count()
    assert remove_old_evidence(1095) == 0  # nothing is old yet
    removed = remove_old_evidence(1095, now=timezone.now() + dt.timedelta(days=1100))
    left = set(ConsentEvidence.objects.values_list("event__subscriber__email", flat=True))
    assert removed >= 3 and left == {"bleibt@example.de"}
    report = verify_chain()
    assert report.intact and report.count == events == ConsentEvent.objects.count()


def test_the_daily_housekeeping_and_the_command_apply_retention_and_purge_raw_bounces(finance, capsys):
    old = finished_campaign(finance, months_ago=14)
    BounceEvent.objects.create(
        kind="hard",
        source="api",
        raw_message=b"From: mailer-daemon\r\n\r\nx",
        received_at=timezone.now() - dt.timedelta(days=40),
    )
    daily_housekeeping()
    assert not Delivery.objects.filter(campaign=old).exists()
    assert BounceEvent.objects.get().raw_message in (b"", memoryview(b""))
    call_command("retention")
    assert "campaigns_reduced=0" in capsys.readouterr().out
