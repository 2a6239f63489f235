"""Each action's event reaches a webhook receiver once, signed, with the documented data; a rolled-back
action sends nothing; an erasure takes the subscriber's queued and logged payloads with it."""

import io
import json

import pytest
from django.core.management import call_command
from django.db import transaction

from rundbrief.audience import actions
from rundbrief.audience.models import Subscriber, Suppression
from rundbrief.bounces.actions import record_complaint
from rundbrief.campaigns.actions import schedule_campaign
from rundbrief.campaigns.authoring import create_campaign
from rundbrief.delivery.actions import start_campaign
from rundbrief.delivery.store import DjangoRecipientStore
from rundbrief.webhooks import actions as webhook_actions
from rundbrief.webhooks.events import EVENT_TYPES
from rundbrief.webhooks.models import WebhookMessage
from rundbrief.webhooks.sender import deliver_webhooks
from tests.support.readers import reader
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.django_db

NEVER_SENT = ("ip", "user_agent", "token", "nonce", "confirm_nonce")


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def endpoint(receiver):
    return webhook_actions.add_endpoint(receiver.url, description="Shop")


def delivered(receiver, endpoint):
    deliver_webhooks()
    return receiver.delivered(endpoint.secret)


def test_every_action_sends_its_event_once_with_the_documented_data(
    receiver, endpoint, topics, sign_up, smtp_inbox, settings
):
    finance = topics["finanznachrichten"]
    # The form's path: applied in a batch by the intake.
    sign_up("erika.muster@example.org", topics=[finance.slug])
    erika = Subscriber.objects.get(email="erika.muster@example.org")
    # The one-at-a-time path (confirmed at once by the helper).
    max_ = reader("max.mustermann@example.org")
    actions.update_preferences(max_, topics=["finanznachrichten"], source="test")
    actions.withdraw_consent(max_, source="test")
    actions.suppress_address("hans@example.net", reason=Suppression.Reason.MANUAL, source="test")
    record_complaint(recipient="max.mustermann@example.org", source="api")
    campaign = create_campaign(name="KW 49", subject="Gold im Dezember", topics=[finance], body="Gold steigt.")
    start_campaign(schedule_campaign(campaign).pk)
    DjangoRecipientStore("test", 60).finish_done_campaigns()  # nobody to send to: finished at once
    deliver_webhooks()
    actions.erase_subscriber(erika, source="test")
    events = delivered(receiver, endpoint)

    types = [e["type"] for e in events]
    assert sorted(set(types)) == sorted(EVENT_TYPES)
    by_type = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event["data"])
    assert [d["email"] for d in by_type["subscription.requested"]] == [
        "erika.muster@example.org",
        "max.mustermann@example.org",
    ]
    assert by_type["subscription.requested"][0] == {
        "subscriber": erika.public_id,
        "email": "erika.muster@example.org",
        "language": "de",
        "topics": ["finanznachrichten"],
    }
    assert [d["email"] for d in by_type["subscription.confirmed"]] == ["max.mustermann@example.org"]
    assert by_type["subscription.topics_changed"] == [
        {"subscriber": max_.public_id, "email": max_.email, "language": "de", "topics": ["finanznachrichten"]}
    ]
    assert by_type["subscription.withdrawn"][0]["subscriber"] == max_.public_id
    assert len(by_type["subscription.withdrawn"]) == 1  # the complaint finds her withdrawn already
    suppressed = {d["email"]: d for d in by_type["address.suppressed"]}
    assert suppressed["hans@example.net"] == {"email": "hans@example.net", "reason": "manual", "subscriber": None}
    assert suppressed["max.mustermann@example.org"]["reason"] == "complained"
    assert by_type["complaint.received"] == [
        {"subscriber": max_.public_id, "email": "max.mustermann@example.org", "campaign": None, "verified": True}
    ]
    # The complaint's own event comes before the suppression it leads to.
    assert types.index("complaint.received") < max(i for i, t in enumerate(types) if t == "address.suppressed")
    assert by_type["campaign.started"][0]["campaign"] == campaign.pk
    assert by_type["campaign.started"][0]["subject"] == "Gold im Dezember"
    assert by_type["campaign.finished"][0]["finished_at"]
    assert by_type["subscriber.erased"] == [{"subscriber": erika.public_id}]
    # Each event once: no message id twice, and nothing left in the queue.
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == len(events)
    assert not WebhookMessage.objects.exclude(state=WebhookMessage.State.DELIVERED).exists()
    for request in receiver.requests:
        body = json.loads(request.body)
        assert set(body) == {"type", "timestamp", "data"}
        assert not any(key in body["data"] for key in NEVER_SENT)
        assert "203.0.113" not in request.body  # the readers' IP addresses never leave


def test_an_endpoint_gets_only_the_events_it_subscribed_to(receiver):
    withdrawals = webhook_actions.add_endpoint(receiver.url, events=["subscription.withdrawn"])
    max_ = reader("max.mustermann@example.org", withdraw=True)
    assert [e["type"] for e in delivered(receiver, withdrawals)] == ["subscription.withdrawn"]
    assert max_.status == Subscriber.Status.WITHDRAWN


def test_a_rolled_back_action_sends_nothing(receiver, endpoint):
    max_ = reader("max.mustermann@example.org", confirm=False)
    delivered(receiver, endpoint)
    before = len(receiver.requests)
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.withdraw_consent(max_, source="test")
        actions.suppress_address(max_.email, reason=Suppression.Reason.MANUAL)
        raise RuntimeError("the caller failed after the actions")
    assert not WebhookMessage.objects.filter(event_type__in=["subscription.withdrawn", "address.suppressed"]).exists()
    assert deliver_webhooks() == 0
    assert len(receiver.requests) == before


def test_no_endpoint_no_rows(topics):
    reader("max.mustermann@example.org", withdraw=True)
    assert not WebhookMessage.objects.exists()


def test_a_disabled_endpoint_gets_no_new_events(receiver, endpoint):
    webhook_actions.change_endpoint(endpoint, url=endpoint.url, events=[], description="", active=False)
    reader("max.mustermann@example.org")
    assert not WebhookMessage.objects.exists()


def test_erasure_deletes_the_queued_and_logged_payloads_that_carry_the_address(receiver, endpoint):
    # Suppressed (and lifted) as a bare address before she signed up: a payload without her subscriber id.
    actions.suppress_address("ERIKA.muster@example.org", reason=Suppression.Reason.MANUAL)
    actions.lift_suppression("erika.muster@example.org", reason=Suppression.Reason.MANUAL)
    erika = reader("erika.muster@example.org")  # requested + confirmed
    delivered(receiver, endpoint)  # sent: the delivery log keeps them
    actions.withdraw_consent(erika, source="test")  # queued, not yet sent
    other = reader("max.mustermann@example.org", confirm=False)
    erika_id = erika.pk
    assert WebhookMessage.objects.filter(payload__contains="erika.muster@example.org").count() == 4
    assert WebhookMessage.objects.filter(subscriber_id=erika_id).count() == 3

    actions.erase_subscriber(erika, source="test")

    assert not WebhookMessage.objects.filter(payload__contains="erika.muster@example.org").exists()
    assert not WebhookMessage.objects.filter(subscriber_id=erika_id).exists()
    left = list(WebhookMessage.objects.values_list("event_type", flat=True).order_by("pk"))
    assert left == ["subscription.requested", "subscriber.erased"]  # the other reader's, and the erasure
    assert WebhookMessage.objects.get(event_type="subscriber.erased").payload.count(erika.public_id) == 1
    assert other.email in WebhookMessage.objects.get(event_type="subscription.requested").payload


def test_an_import_sends_no_event_per_row(endpoint, topics, tmp_path):
    path = tmp_path / "kunden.csv"
    path.write_text(
        "email,topics,consented_at,confirmed_at,source,ip,consent_text_version\n"
        "erika.muster@example.de,finanznachrichten,2024-03-01T09:30:00+01:00,2024-03-01T09:41:00+01:00,Messe,,de:1\n",
        encoding="utf-8",
    )
    call_command("import-subscribers", str(path), stdout=io.StringIO())
    assert Subscriber.objects.filter(email="erika.muster@example.de").exists()
    assert not WebhookMessage.objects.exists()
