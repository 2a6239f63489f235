"""Service mail that queues up while the mail thread is busy goes out as one batch.

One SMTP connection for the batch's mails, and their `confirmation_sent` events
recorded together (rundbrief/audience/outbox.py and intake.py; docs/benchmarks.md, sign-up).
"""

import threading

import pytest

from rundbrief.audience import actions, ledger, outbox
from rundbrief.audience.models import ConsentEvent, ConsentText

pytestmark = pytest.mark.django_db(transaction=True)  # the mail thread has its own connection


def test_mails_queued_behind_a_busy_mail_thread_share_one_connection_and_are_all_recorded(smtp_inbox, settings, topics):
    settings.RUNDBRIEF_SERVICE_MAIL_ASYNC = True
    peers = []
    original = smtp_inbox.handle_DATA

    async def handle_data(server, session, envelope):
        peers.append(session.peer)
        return await original(server, session, envelope)

    smtp_inbox.handle_DATA = handle_data
    busy, go_on = threading.Event(), threading.Event()

    def occupy_the_mail_thread():
        busy.set()
        go_on.wait(30)

    outbox.submit(occupy_the_mail_thread)
    assert busy.wait(30)
    consent_text = ConsentText.current("de")
    readers = [f"leser{i}@example.de" for i in range(5)]
    for address in readers:  # queued while the thread is busy
        actions.request_subscription(address, consent_text=consent_text, source="test", ip="203.0.113.5")
    go_on.set()
    outbox.wait_until_sent()

    assert sorted(m["To"] for m in smtp_inbox.mails) == readers
    assert len(set(peers)) == 1  # one SMTP connection, one client port
    sent = ConsentEvent.objects.filter(kind=ConsentEvent.Kind.CONFIRMATION_SENT)
    assert sorted(sent.values_list("message_id", flat=True)) == sorted(m["Message-ID"] for m in smtp_inbox.mails)
    assert ledger.verify_chain().intact


def test_a_mail_that_fails_in_a_batch_does_not_stop_the_others(smtp_inbox, settings, topics):
    settings.RUNDBRIEF_SERVICE_MAIL_ASYNC = True
    busy, go_on = threading.Event(), threading.Event()
    outbox.submit(lambda: busy.set() or go_on.wait(30))
    assert busy.wait(30)
    consent_text = ConsentText.current("de")

    def explode():
        raise RuntimeError("a broken job")

    actions.request_subscription("vorher@example.de", consent_text=consent_text, source="test")
    outbox.submit(explode)
    actions.request_subscription("nachher@example.de", consent_text=consent_text, source="test")
    go_on.set()
    outbox.wait_until_sent()
    assert [m["To"] for m in smtp_inbox.mails] == ["vorher@example.de", "nachher@example.de"]
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.CONFIRMATION_SENT).count() == 2
