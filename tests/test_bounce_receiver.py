"""The inbound SMTP/LMTP receiver over real sockets, and a campaign whose bounces flow back into the audience."""

import email
import re
import smtplib
from email import policy

import pytest

from rundbrief.audience.models import Subscriber
from rundbrief.audience.queries import is_suppressed
from rundbrief.bounces import actions
from rundbrief.bounces.models import BounceEvent
from rundbrief.bounces.receiver import ReceiverController
from rundbrief.delivery.models import Delivery
from rundbrief.outbound import verp
from tests.support.bounces import DOMAIN, dsn, mark_sent
from tests.support.campaigns import make_audience, scheduled_campaign
from tests.support.ports import free_port
from tests.support.smtp import Faults, SmtpServer
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver():
    controller = ReceiverController("127.0.0.1", free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def sent(finance):
    make_audience(finance, 3)
    return mark_sent(scheduled_campaign([finance]))


def send(port, rcpt, data, *, lmtp=False):
    client = smtplib.LMTP("127.0.0.1", port) if lmtp else smtplib.SMTP("127.0.0.1", port, timeout=10)
    with client:
        return client.sendmail("", [rcpt], data)


def test_a_dsn_sent_to_a_verp_address_is_recorded_and_suppresses(receiver, sent):
    delivery = sent[0]
    send(receiver.port, verp.return_path(delivery.pk, DOMAIN), dsn(delivery))
    event = BounceEvent.objects.get()
    assert (event.kind, event.source, event.delivery_id) == ("hard", "inbound-smtp", delivery.pk)
    assert is_suppressed(delivery.subscriber.email)


def test_a_forged_verp_id_or_a_foreign_address_is_refused_with_550(receiver, sent):
    genuine = verp.return_path(sent[0].pk, DOMAIN)
    forged = genuine.replace(f"+{sent[0].pk}-", f"+{sent[1].pk}-")
    for rcpt in (forged, f"postmaster@{DOMAIN}", "bounces+1-aaaaaaaaaa@example.org"):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            send(receiver.port, rcpt, dsn(sent[1]))
        assert refused.value.recipients[rcpt][0] == 550
    assert not BounceEvent.objects.exists() and not is_suppressed(sent[1].subscriber.email)


def test_mail_to_the_list_unsubscribe_mailto_address_withdraws_consent(receiver, sent):
    delivery = sent[1]
    body = b"From: reader@example.org\r\nTo: x\r\nSubject: unsubscribe\r\n\r\n"
    send(receiver.port, verp.unsubscribe_mailbox(delivery.pk, DOMAIN), body)
    assert Subscriber.objects.get(pk=delivery.subscriber_id).status == Subscriber.Status.WITHDRAWN
    assert Subscriber.objects.get(pk=sent[0].subscriber_id).status == Subscriber.Status.CONFIRMED


def test_an_auto_reply_to_the_verp_address_is_accepted_and_ignored(receiver, sent):
    reply = (
        b"From: a@example.org\r\nSubject: Abwesenheitsnotiz: Marktbericht\r\nAuto-Submitted: auto-replied\r\n\r\n"
        b"Ich bin im Urlaub.\r\n"
    )
    send(receiver.port, verp.return_path(sent[2].pk, DOMAIN), reply)
    assert not BounceEvent.objects.exists() and not is_suppressed(sent[2].subscriber.email)


def test_the_receiver_speaks_lmtp_when_asked(sent):
    controller = ReceiverController("127.0.0.1", free_port(), lmtp=True)
    controller.start()
    try:
        send(controller.port, verp.return_path(sent[2].pk, DOMAIN), dsn(sent[2]), lmtp=True)
    finally:
        controller.stop()
    assert BounceEvent.objects.get().source == "inbound-lmtp"


def unknown_user(address):
    """A recipient's mail server: 550 at RCPT for addresses that do not exist, 250 for the rest."""
    if address.startswith("gone"):
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
    return None


def test_rejections_and_dsns_of_a_campaign_suppress_and_the_next_campaign_skips_them(settings, finance, receiver):
    make_audience(finance, 3, prefix="leser")
    make_audience(finance, 2, prefix="gone")
    # The recipients' mail server; without PIPELINING, each RCPT is answered on its own.
    with SmtpServer(Faults(refuse_rcpt=unknown_user), pipelining=False) as mx:
        first = scheduled_campaign([finance])
        run_worker(settings, mx)
        # The engine's record step hands each 5xx to the bounce hook (wired by the delivery engine).
        for delivery in Delivery.objects.filter(campaign=first, state=Delivery.State.FAILED):
            actions.record_smtp_rejection(delivery.pk, delivery.last_reply)
        accepted = {m.rcpt_tos[0]: (m.mail_from, m.data) for m in mx.messages}
        assert sorted(accepted) == ["leser0@example.org", "leser1@example.org", "leser2@example.org"]
        # leser0's mailbox is deleted later: its server sends a DSN to the VERP return path.
        mail_from, _ = accepted["leser0@example.org"]
        delivery = Delivery.objects.select_related("subscriber").get(pk=verp.parse_return_path(mail_from))
        send(receiver.port, mail_from, dsn(delivery))
        # leser1 uses the List-Unsubscribe mailto address of the message it received.
        header = email.message_from_bytes(accepted["leser1@example.org"][1], policy=policy.default)["List-Unsubscribe"]
        send(receiver.port, re.search(r"mailto:([^?>]+)", header).group(1), b"Subject: unsubscribe\r\n\r\n")

        for address in ("gone0@example.org", "gone1@example.org", "leser0@example.org"):
            assert is_suppressed(address), address
        assert Subscriber.objects.get(email="leser1@example.org").status == Subscriber.Status.WITHDRAWN
        states = dict(Delivery.objects.filter(campaign=first).values_list("subscriber__email", "state"))
        assert states["gone0@example.org"] == states["leser0@example.org"] == Delivery.State.BOUNCED

        mx.clear()
        second = scheduled_campaign([finance], subject="Marktbericht KW 49")
        run_worker(settings, mx)
        assert [m.rcpt_tos[0] for m in mx.messages] == ["leser2@example.org"]
        assert not Delivery.objects.filter(campaign=second, state=Delivery.State.FAILED).exists()
