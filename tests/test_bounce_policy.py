"""What bounces and complaints do to the audience: suppression, withdrawal, alerts, campaign pauses, the admin."""

from datetime import timedelta

import pytest
from django.utils import timezone

from rundbrief.audience.actions import erase_subscriber
from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.ledger import verify_chain
from rundbrief.audience.models import ConsentEvent, Subscriber, Suppression
from rundbrief.audience.queries import is_suppressed
from rundbrief.bounces import actions
from rundbrief.bounces.models import BounceEvent, OperatorAlert
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery
from tests.support.bounces import arf, dsn, mark_sent
from tests.support.campaigns import make_audience, scheduled_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(finance):
    """A campaign to five confirmed readers, accepted by their servers."""
    make_audience(finance, 5)
    campaign = scheduled_campaign([finance])
    return mark_sent(campaign)


def events_for(address, kind):
    return ConsentEvent.objects.filter(subject_hash=subject_hash(address), kind=kind)


def test_a_hard_bounce_suppresses_the_address_at_once_and_writes_a_ledger_event(sent):
    delivery = sent[0]
    address = delivery.subscriber.email
    event = actions.record_message(dsn(delivery), source="inbound-smtp")
    assert event.kind == "hard" and event.status == "5.1.1" and event.outcome == "suppressed"
    assert event.delivery == delivery and event.campaign_id == delivery.campaign_id
    assert Suppression.objects.get(address_hash=subject_hash(address)).reason == "bounced"
    assert events_for(address, ConsentEvent.Kind.SUPPRESSED).get().source.startswith("bounce:userunknown:5.1.1")
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.BOUNCED
    assert verify_chain().intact


def test_three_soft_bounces_within_14_days_suppress_and_two_do_not(finance):
    make_audience(finance, 1)
    deliveries = [mark_sent(scheduled_campaign([finance], subject=f"Ausgabe {i}"))[0] for i in range(4)]
    address = deliveries[0].subscriber.email
    old = actions.record_message(
        dsn(deliveries[0], status="4.2.2", action="delayed", diagnostic="452 4.2.2 full"), source="imap"
    )
    BounceEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=15))
    for delivery in deliveries[1:3]:
        for _ in range(2):  # the same message delayed twice counts once
            event = actions.record_message(dsn(delivery, status="4.2.2", action="delayed"), source="imap")
            assert event.kind == "soft" and event.outcome == "counted"
    assert not is_suppressed(address)
    event = actions.record_message(
        dsn(deliveries[3], status="5.2.2", diagnostic="552 5.2.2 mailbox full"), source="imap"
    )
    assert event.kind == "soft" and event.outcome == "suppressed"
    assert Suppression.objects.get(address_hash=subject_hash(address)).reason == "bounced"
    assert Delivery.objects.get(pk=deliveries[3].pk).state == Delivery.State.SENT  # soft: not "bounced"


def test_a_complaint_withdraws_consent_and_suppresses_the_address(sent):
    delivery = sent[1]
    address = delivery.subscriber.email
    event = actions.record_message(arf(delivery), source="imap")
    assert event.kind == "complaint" and event.outcome == "withdrawn" and event.recipient == address
    assert Subscriber.objects.get(pk=delivery.subscriber_id).status == Subscriber.Status.WITHDRAWN
    assert Suppression.objects.get(address_hash=subject_hash(address)).reason == "complained"
    assert events_for(address, ConsentEvent.Kind.WITHDRAWN).exists()
    assert events_for(address, ConsentEvent.Kind.SUPPRESSED).exists()


def test_a_not_spam_feedback_report_changes_nothing(sent):
    assert actions.record_message(arf(sent[1], feedback_type="not-spam"), source="imap") is None
    assert not Suppression.objects.exists()


def test_outlook_5_7_515_raises_an_operator_alert_and_does_not_suppress_the_recipient(sent):
    reply = "550 5.7.515 Access denied, sending domain musterhaus.example does not meet the required authentication"
    for delivery in sent[:2]:
        Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.FAILED, last_reply=reply, sent_at=None)
        event = actions.record_smtp_rejection(delivery.pk, reply)
        assert event.kind == "sender_policy" and event.status == "5.7.515" and event.outcome == "alerted"
    alert = OperatorAlert.objects.get()
    assert alert.count == 2 and not alert.acknowledged and "5.7.515" in alert.message
    assert not Suppression.objects.exists()
    assert Delivery.objects.get(pk=sent[0].pk).state == Delivery.State.FAILED
    actions.acknowledge_alerts([alert])
    actions.record_smtp_rejection(sent[2].pk, reply)
    alert.refresh_from_db()
    assert alert.count == 3 and not alert.acknowledged  # it happened again: the operator must look again


def test_a_synchronous_550_5_1_1_suppresses_and_marks_the_delivery_bounced(sent):
    delivery = sent[2]
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.FAILED, sent_at=None)
    event = actions.record_smtp_rejection(delivery.pk, "550 5.1.1 <x@example.org>: Recipient address rejected")
    assert (event.kind, event.source, event.outcome) == ("hard", "smtp-sync", "suppressed")
    assert is_suppressed(delivery.subscriber.email)
    assert Delivery.objects.get(pk=delivery.pk).state == Delivery.State.BOUNCED
    assert actions.record_smtp_rejection(10**9, "550 5.1.1 gone") is None


def test_a_bounce_without_a_verified_id_is_logged_but_changes_nothing(sent):
    raw = dsn(sent[0]).replace(f"bounces+{sent[0].pk}-".encode(), f"bounces+{sent[0].pk + 1000}-".encode())
    event = actions.record_message(raw, source="imap")
    assert event.outcome == "unverified" and event.delivery is None
    assert not Suppression.objects.exists()


def _complaints(deliveries):
    for delivery in deliveries:
        actions.record_complaint(delivery=delivery, recipient=delivery.subscriber.email, source="imap")


def test_complaint_rate_above_0_3_percent_pauses_a_sending_campaign_once_1000_were_sent(finance, settings):
    make_audience(finance, 1000)
    campaign = scheduled_campaign([finance])
    deliveries = mark_sent(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.SENDING)
    _complaints(deliveries[:3])  # 0.3 %: at the limit, not above
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.SENDING
    assert actions.campaign_rates(campaign.pk).complaint_warning  # above Gmail's 0.1 % guidance
    _complaints(deliveries[3:4])
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.PAUSED and "complaint rate 0.40%" in campaign.pause_reason


def test_the_first_complaints_of_a_small_campaign_do_not_pause_it(sent):
    Campaign.objects.filter(pk=sent[0].campaign_id).update(state=Campaign.State.SENDING)
    _complaints(sent[:2])  # 40 % of 5, but far below BOUNCE_COMPLAINT_MIN_SENT
    assert Campaign.objects.get(pk=sent[0].campaign_id).state == Campaign.State.SENDING


def test_erasure_blanks_the_recipient_and_raw_copy_but_keeps_the_hash(sent):
    delivery = sent[3]
    event = actions.record_message(dsn(delivery), source="imap")
    assert event.recipient and bytes(event.raw_message)
    erase_subscriber(Subscriber.objects.get(pk=delivery.subscriber_id))
    event.refresh_from_db()
    assert event.recipient == "" and bytes(event.raw_message) == b"" and event.recipient_hash
    assert event.subscriber is None


def test_purge_deletes_raw_messages_older_than_the_retention(sent):
    event = actions.record_message(dsn(sent[4]), source="imap")
    assert actions.purge_raw_messages() == 0
    BounceEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(days=31))
    assert actions.purge_raw_messages() == 1
    event.refresh_from_db()
    assert bytes(event.raw_message) == b"" and event.status == "5.1.1"


def test_admin_shows_the_bounce_log_rates_with_a_warning_and_acknowledges_alerts(sent, admin_client):
    actions.record_message(dsn(sent[0]), source="imap")
    actions.record_complaint(delivery=sent[1], recipient=sent[1].subscriber.email, source="imap")
    actions.record_smtp_rejection(sent[2].pk, "550 5.7.26 DMARC policy")
    page = admin_client.get("/admin/bounces/bounceevent/?kind__exact=hard").content.decode()
    assert "5.1.1" in page and sent[0].subscriber.email in page
    page = admin_client.get("/admin/bounces/campaignrates/").content.decode()
    assert "20.00%" in page and "⚠" in page and "Beschwerdequote über 0.1%" in page.replace("&nbsp;", " ")
    alert = OperatorAlert.objects.get()
    response = admin_client.post(
        "/admin/bounces/operatoralert/", {"action": "acknowledge", "_selected_action": [alert.pk]}
    )
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged


BLOCKLISTED = "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"


def _refuse(deliveries, reply=BLOCKLISTED):
    for delivery in deliveries:
        Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.FAILED, sent_at=None)
        actions.record_smtp_rejection(delivery.pk, reply)


def test_a_domain_that_refuses_all_of_a_campaign_for_a_blocklisting_pauses_it_naming_reason_and_domain(
    finance, settings
):
    settings.BOUNCE_DOMAIN_PAUSE_MIN = 3
    make_audience(finance, 4)
    deliveries = mark_sent(scheduled_campaign([finance]))
    campaign = Campaign.objects.get(pk=deliveries[0].campaign_id)
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.SENDING)
    _refuse(deliveries[:2])
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.SENDING  # 2 < 3
    Delivery.objects.filter(pk=deliveries[3].pk).update(sent_at=None)  # not accepted either
    _refuse(deliveries[2:3])
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.PAUSED
    assert "example.org refused 3 messages (blocked)" in campaign.pause_reason
    assert campaign.events.get(action="paused").actor == "bounces"
    assert not Suppression.objects.exists()


def test_a_domain_that_still_accepts_some_of_the_campaign_does_not_pause_it(finance, settings):
    settings.BOUNCE_DOMAIN_PAUSE_MIN = 3
    make_audience(finance, 4)
    deliveries = mark_sent(scheduled_campaign([finance]))
    Campaign.objects.filter(pk=deliveries[0].campaign_id).update(state=Campaign.State.SENDING)
    _refuse(deliveries[:1])
    Delivery.objects.filter(pk=deliveries[3].pk).update(sent_at=timezone.now())  # accepted after the first refusal
    _refuse(deliveries[1:3])
    assert Campaign.objects.get(pk=deliveries[0].campaign_id).state == Campaign.State.SENDING


def test_a_counted_reason_never_suppresses_at_once_even_with_a_5xx(sent):
    event = actions.record_smtp_rejection(sent[0].pk, "552 5.2.2 <x@example.org>: Mailbox full")
    assert (event.reason, event.kind, event.outcome) == ("mailboxfull", "soft", "counted")
    assert not is_suppressed(sent[0].subscriber.email)


def test_an_auto_reply_is_not_recorded(sent):
    assert actions.record_bounce(reason="vacation", recipient=sent[0].subscriber.email, delivery=sent[0]) is None
    assert not BounceEvent.objects.exists()
