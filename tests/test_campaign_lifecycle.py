"""The campaign's life cycle: scheduled at the click, started — content frozen, audience taken — when
its time has come, by exactly one worker (docs/campaigns.md, "Life cycle")."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from rundbrief.audience.actions import withdraw_consent
from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.campaigns.actions import CampaignStateError, schedule_campaign, unschedule_campaign
from rundbrief.campaigns.authoring import create_campaign
from rundbrief.delivery.actions import start_campaign
from rundbrief.delivery.models import Delivery
from rundbrief.delivery.store import DjangoRecipientStore


def reader(address, topic, status="confirmed"):
    subscriber = Subscriber.objects.create(email=address, status=status, confirmed_at=timezone.now())
    Subscription.objects.create(subscriber=subscriber, topic=topic)
    return subscriber


def draft(body="Gold steigt."):
    return create_campaign(name="April", subject="Goldpreis im April", topics=["finanznachrichten"], body=body)


@pytest.mark.django_db
def test_the_audience_is_whoever_is_confirmed_when_sending_starts_not_at_the_click(finance):
    early = reader("frueh@example.org", finance)
    leaving = reader("geht@example.org", finance)
    campaign = schedule_campaign(draft(), at=timezone.now() + dt.timedelta(hours=1))
    assert not Delivery.objects.exists() and campaign.frozen_html == ""
    late = reader("spaet@example.org", finance)  # confirmed after the click
    withdraw_consent(leaving, source="test")  # withdrew after the click
    assert start_campaign(campaign.pk) is None  # not due yet
    started = start_campaign(campaign.pk, now=campaign.scheduled_at)
    assert started.state == "sending" and started.recipient_count == 2
    assert set(Delivery.objects.values_list("subscriber_id", flat=True)) == {early.pk, late.pk}
    assert "Gold steigt." in started.frozen_html


@pytest.mark.django_db
def test_a_started_campaign_is_not_started_again_nor_unscheduled(finance):
    reader("leserin@example.org", finance)
    campaign = schedule_campaign(draft())
    assert start_campaign(campaign.pk).recipient_count == 1
    assert start_campaign(campaign.pk) is None
    assert Delivery.objects.count() == 1 and campaign.events.filter(action="started").count() == 1
    with pytest.raises(CampaignStateError, match="this needs: scheduled"):
        unschedule_campaign(campaign)


@pytest.mark.django_db
def test_the_worker_starts_only_campaigns_whose_time_has_come(finance):
    reader("leserin@example.org", finance)
    now_campaign = schedule_campaign(draft())
    later = schedule_campaign(draft(), at=timezone.now() + dt.timedelta(days=2))
    DjangoRecipientStore("test-worker", 30).start_due_campaigns()
    now_campaign.refresh_from_db()
    later.refresh_from_db()
    assert (now_campaign.state, later.state) == ("sending", "scheduled")
    assert now_campaign.events.get(action="started").actor == "worker:test-worker"


@pytest.mark.django_db(transaction=True)
def test_two_workers_starting_the_same_campaign_at_once_snapshot_it_once(finance):
    for i in range(50):
        reader(f"leser{i}@example.org", finance)
    campaign = schedule_campaign(draft())
    barrier = threading.Barrier(2)
    results = []

    def start():
        barrier.wait()
        try:
            results.append(start_campaign(campaign.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r is None for r in results) == [False, True]
    assert Delivery.objects.filter(campaign=campaign).count() == 50
    assert campaign.events.filter(action="started").count() == 1
