"""A campaign through the real delivery path and real bounce reports: the reason decides, not the 5xx.

The recipients' mail server is tests/support/smtp.py's SmtpServer; the worker hands each
synchronous 5xx to bounce handling itself (ops/worker.py), as in production.
"""

import pytest

from rundbrief.audience.models import ConsentEvent, Suppression
from rundbrief.audience.queries import is_suppressed
from rundbrief.bounces import actions
from rundbrief.bounces.models import BounceEvent, OperatorAlert
from rundbrief.delivery.models import Delivery
from tests.support.bounces import arf, dsn, mark_sent
from tests.support.campaigns import make_audience, scheduled_campaign
from tests.support.smtp import Faults, SmtpServer
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)

BLOCKLISTED = "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org"


def mx_of_the_world(address):
    """gmail.example refuses our IP for a blocklisting; at example.org one mailbox is gone."""
    if address.endswith("@gmail.example"):
        return BLOCKLISTED
    if address.startswith("gone"):
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
    return None


def test_a_554_blocklisting_alerts_the_operator_and_a_550_user_unknown_suppresses_only_that_address(settings, finance):
    make_audience(finance, 3, domain="gmail.example")
    make_audience(finance, 2, prefix="leser")
    make_audience(finance, 1, prefix="gone")
    ledger_before = set(ConsentEvent.objects.values_list("pk", flat=True))
    with SmtpServer(Faults(refuse_rcpt=mx_of_the_world), pipelining=False) as mx:
        campaign = scheduled_campaign([finance])
        run_worker(settings, mx)
    assert sorted(m.rcpt_tos[0] for m in mx.messages) == ["leser0@example.org", "leser1@example.org"]

    alert = OperatorAlert.objects.get()
    assert alert.key == "blocked:gmail.example" and alert.count == 3
    assert "blocked" in alert.message and "gmail.example" in alert.message and "spamhaus" in alert.message
    for i in range(3):
        assert not is_suppressed(f"leser{i}@gmail.example")
    blocked = BounceEvent.objects.filter(recipient__endswith="@gmail.example")
    assert {(e.reason, e.kind, e.outcome) for e in blocked} == {("blocked", "sender_policy", "alerted")}

    assert is_suppressed("gone0@example.org")
    gone = BounceEvent.objects.get(recipient="gone0@example.org")
    assert (gone.reason, gone.outcome, gone.source) == ("userunknown", "suppressed", "smtp-sync")
    new_events = ConsentEvent.objects.exclude(pk__in=ledger_before)
    assert [(e.kind, e.source) for e in new_events] == [("suppressed", "bounce:userunknown:5.1.1:smtp-sync")]
    assert Suppression.objects.count() == 1
    states = dict(Delivery.objects.filter(campaign=campaign).values_list("subscriber__email", "state"))
    assert states["gone0@example.org"] == Delivery.State.BOUNCED
    assert states["leser0@gmail.example"] == Delivery.State.FAILED  # not bounced: the address is fine


def test_an_inbound_dsn_with_a_blocklist_text_alerts_and_one_with_user_unknown_suppresses(finance):
    make_audience(finance, 2)
    blocked, gone = mark_sent(scheduled_campaign([finance]))
    ledger_before = ConsentEvent.objects.count()

    event = actions.record_message(dsn(blocked, status="5.7.1", diagnostic=BLOCKLISTED), source="inbound-smtp")
    assert (event.reason, event.outcome) == ("blocked", "alerted")
    assert OperatorAlert.objects.get().key == "blocked:example.org"
    assert not is_suppressed(blocked.subscriber.email) and ConsentEvent.objects.count() == ledger_before

    user_unknown = "550 5.1.1 <leser1@example.org>: Recipient address rejected: User unknown"
    event = actions.record_message(dsn(gone, diagnostic=user_unknown), source="inbound-smtp")
    assert (event.reason, event.outcome) == ("userunknown", "suppressed")
    assert is_suppressed(gone.subscriber.email)
    assert ConsentEvent.objects.get(pk__gt=0, kind="suppressed").source == "bounce:userunknown:5.1.1:inbound-smtp"


def test_a_dmarc_failure_report_alerts_and_withdraws_nobody_while_an_abuse_report_withdraws(finance):
    make_audience(finance, 2)
    failed_auth, complained = mark_sent(scheduled_campaign([finance]))

    event = actions.record_message(arf(failed_auth, feedback_type="auth-failure"), source="inbound-smtp")
    assert (event.kind, event.reason, event.outcome) == ("sender_policy", "securityerror", "alerted")
    assert not is_suppressed(failed_auth.subscriber.email)
    assert not ConsentEvent.objects.filter(kind="withdrawn").exists()

    event = actions.record_message(arf(complained), source="inbound-smtp")
    assert (event.kind, event.reason, event.outcome) == ("complaint", "feedback", "withdrawn")
    assert ConsentEvent.objects.filter(kind="withdrawn").count() == 1
