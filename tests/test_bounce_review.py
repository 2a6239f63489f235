"""Old suppressions made by a bounce that was not about the address: listed, and lifted through one action."""

import importlib
import json
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command

from rundbrief.audience.actions import suppress_address, withdraw_consent
from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.ledger import verify_chain
from rundbrief.audience.models import ConsentEvent, Subscriber
from rundbrief.audience.queries import is_suppressed
from rundbrief.bounces import actions
from rundbrief.bounces.models import BounceEvent
from tests.support.bounces import dsn, mark_sent
from tests.support.campaigns import make_audience, scheduled_campaign

pytestmark = pytest.mark.django_db
backfill = importlib.import_module("rundbrief.bounces.migrations.0003_backfill_bounce_reasons")

BLOCKLISTED = "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"


@pytest.fixture
def sent(finance):
    make_audience(finance, 4)
    return mark_sent(scheduled_campaign([finance]))


def suppressed_the_old_way(delivery, reply, *, raw=b"", source="smtp-sync"):
    """A bounce recorded before reasons existed: any 5.x.x was hard and suppressed at once."""
    address = delivery.subscriber.email
    suppress_address(address, reason="bounced", source=f"bounce:hard:5.0.0:{source}")
    return BounceEvent.objects.create(
        delivery=delivery,
        campaign=delivery.campaign,
        subscriber=delivery.subscriber,
        kind="hard",
        status="5.7.1" if "5.7.1" in reply else "5.1.1",
        recipient=address,
        recipient_hash=subject_hash(address),
        diagnosis=reply,
        source=source,
        outcome="suppressed",
        raw_message=raw,
    )


def run_backfill():
    backfill.backfill(apps, None)


def test_the_migration_gives_old_bounces_their_reason_from_the_raw_copy_or_the_stored_text(sent):
    by_reply = suppressed_the_old_way(sent[0], BLOCKLISTED)
    by_raw = suppressed_the_old_way(
        sent[1], "", raw=dsn(sent[1], status="5.2.2", diagnostic="552 5.2.2 mailbox full"), source="imap"
    )
    by_text = suppressed_the_old_way(sent[2], "550 5.1.1 user unknown", source="imap")
    complaint = actions.record_complaint(delivery=sent[3], recipient=sent[3].subscriber.email)
    BounceEvent.objects.filter(pk=complaint.pk).update(reason="")
    run_backfill()
    reasons = dict(BounceEvent.objects.values_list("pk", "reason"))
    assert reasons == {
        by_reply.pk: "blocked",
        by_raw.pk: "mailboxfull",
        by_text.pk: "userunknown",
        complaint.pk: "feedback",
    }


def test_review_lists_suppressions_whose_reason_is_not_about_the_address(sent):
    suppressed_the_old_way(sent[0], BLOCKLISTED)
    suppressed_the_old_way(sent[1], "552 5.2.2 mailbox full")
    suppressed_the_old_way(sent[2], "550 5.1.1 <x@example.org>: Recipient address rejected: User unknown")
    run_backfill()
    out = StringIO()
    call_command("bounces", "review", "--json", stdout=out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["address"], r["reason"], r["status"]) for r in rows] == [
        (sent[0].subscriber.email, "blocked", "5.7.1"),
        (sent[1].subscriber.email, "mailboxfull", "5.1.1"),
    ]
    assert all(r["suppressed_at"] for r in rows)


def test_lift_removes_only_the_bounce_suppression_writes_its_ledger_event_and_never_resubscribes(sent):
    blocked, withdrawn, gone = sent[0], sent[1], sent[2]
    suppressed_the_old_way(blocked, BLOCKLISTED)
    suppressed_the_old_way(withdrawn, BLOCKLISTED)
    withdraw_consent(withdrawn.subscriber, source="preferences")
    suppressed_the_old_way(gone, "550 5.1.1 user unknown")
    run_backfill()
    out, err = StringIO(), StringIO()
    addresses = [d.subscriber.email for d in (blocked, withdrawn, gone)]
    call_command("bounces", "review", "--lift", *addresses, stdout=out, stderr=err)
    assert "lifted=2 skipped=1" in out.getvalue() and gone.subscriber.email in err.getvalue()
    assert not is_suppressed(blocked.subscriber.email) and not is_suppressed(withdrawn.subscriber.email)
    assert is_suppressed(gone.subscriber.email)  # the mailbox really is gone
    assert Subscriber.objects.get(pk=withdrawn.subscriber_id).status == Subscriber.Status.WITHDRAWN
    lifted = ConsentEvent.objects.filter(kind="unsuppressed")
    assert lifted.count() == 2 and {e.source for e in lifted} == {"bounce-review:cli"}
    assert verify_chain().intact
    out = StringIO()
    call_command("bounces", "review", stdout=out)
    assert out.getvalue() == ""


def test_a_complaint_suppression_cannot_be_lifted_by_the_review(sent):
    actions.record_complaint(delivery=sent[0], recipient=sent[0].subscriber.email)
    assert not actions.lift_bounce_suppression(sent[0].subscriber.email, actor="cli")
    assert is_suppressed(sent[0].subscriber.email)


def test_the_admin_lifts_a_suppression_from_the_bounce_log(sent, admin_client):
    event = suppressed_the_old_way(sent[0], BLOCKLISTED)
    run_backfill()
    page = admin_client.get("/admin/bounces/bounceevent/?reason__exact=blocked").content.decode()
    assert sent[0].subscriber.email in page and "Sperre aufheben" in page
    response = admin_client.post(
        "/admin/bounces/bounceevent/", {"action": "lift_suppression", "_selected_action": [event.pk]}, follow=True
    )
    assert "1 Sperre aufgehoben" in response.content.decode()
    assert not is_suppressed(sent[0].subscriber.email)
    assert ConsentEvent.objects.get(kind="unsuppressed").source == "bounce-review:admin:admin"


def test_erasure_removes_the_address_from_the_servers_text(sent):
    address = sent[0].subscriber.email
    event = actions.record_smtp_rejection(sent[0].pk, f"550 5.1.1 <{address}>: Recipient address rejected")
    from rundbrief.audience.actions import erase_subscriber

    erase_subscriber(Subscriber.objects.get(pk=sent[0].subscriber_id))
    event.refresh_from_db()
    assert address not in event.diagnosis and "[erased]" in event.diagnosis
