"""The welcome mail: queued in the transaction that confirms a subscriber, sent by the delivery workers.

- Queue: `queue_welcome(subscriber)` runs inside `confirm_subscription`'s transaction (registered in
  delivery/apps.py with audience.actions.register_on_confirmed). If a welcome text for her language
  is switched on, it writes her WelcomeDelivery row; she already has one when she confirms again
  after a withdrawal, and the unique row keeps it at one welcome per subscriber, ever. Imported
  subscribers are never confirmed by this action, so they get none.
- Send: `send_welcome_mails()` is one of the delivery worker's chores (ops/worker.py), called every
  few seconds by every worker. It claims due rows under a lease (db/queue.py: SKIP LOCKED on
  PostgreSQL, BEGIN IMMEDIATE on SQLite), so several workers take disjoint rows. Right before each
  SMTP transaction it reads her consent again: a reader who withdrew, was erased or suppressed, or
  whose welcome text was switched off since she confirmed gets nothing (the row is `skipped`).
- Record: each message's outcome is written right after its transaction, so a worker that dies
  can send at most the one message it was in the middle of a second time; its Message-ID is fixed
  by the row (outbound/verp.py), so that copy is recognisably the same message. A 4xx or a lost
  connection is retried after 1, 2, 4, 8 minutes; a 5xx or the fifth failure gives it up (`failed`).

The mail is the newsletter layout in her language (campaigns/rendering.py: render_welcome), with
the footer, the List-Unsubscribe header and one-click POST (RFC 8058) as campaign mail has, sent
over the first campaign transport (DELIVERY_SMTP_URLS) from CAMPAIGN_FROM_NAME / CAMPAIGN_FROM_EMAIL.
"""

import logging
import os
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rundbrief.audience.links import recipient_links
from rundbrief.audience.models import Subscriber
from rundbrief.audience.queries import is_suppressed
from rundbrief.campaigns.models import WelcomeMail
from rundbrief.campaigns.rendering import render_welcome
from rundbrief.db.queue import JobQueue, Retry
from rundbrief.delivery.compose import campaign_headers
from rundbrief.delivery.models import WelcomeDelivery
from rundbrief.newsroom.models import SiteProfile
from rundbrief.outbound import verp
from rundbrief.outbound.keys import signing_keys
from rundbrief.outbound.message import PREFERENCES_URL, UNSUBSCRIBE_URL, CompiledMessage
from rundbrief.outbound.smtp import Reply, SmtpConnection
from rundbrief.outbound.transport import parse_transport

log = logging.getLogger(__name__)
State = WelcomeDelivery.State

BATCH = 50  # welcome mails per claim: they come a few at a time, as readers confirm
LEASE = timedelta(minutes=2)
# A message starts only while the claim's lease has this much left, so that its outcome is recorded
# before another worker may claim the row (a slow batch leaves the rest to the next claim).
LEASE_MARGIN_SECONDS = 30
RETRY = Retry(max_attempts=5, base_seconds=60)
QUEUE = JobQueue.of(WelcomeDelivery, state="state", waiting=State.WAITING.value, holder="worker", count_on_claim=True)
FEEDBACK_ID = "welcome:welcome:rundbrief"  # Gmail's Feedback Loop groups complaints by it


def queue_welcome(subscriber):
    """Owe `subscriber` her welcome mail, if one is switched on for her language. Runs in the
    confirming transaction: the row commits with the confirmation or not at all."""
    welcome = WelcomeMail.for_language(subscriber.language)
    if welcome is None or not welcome.enabled:
        return
    # ignore_conflicts: she confirmed before (and withdrew since); one welcome per subscriber.
    WelcomeDelivery.objects.bulk_create(
        [WelcomeDelivery(subscriber=subscriber, lease_until=timezone.now())], ignore_conflicts=True
    )


def send_welcome_mails(limit=BATCH) -> int:
    """Claim up to `limit` due welcome mails, send them, record each; returns how many were claimed."""
    now = timezone.now()
    if not QUEUE.has_due(now):  # a plain read: on SQLite a claim takes the write lock even for nothing
        return 0
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    ids = [row_id for (row_id,) in QUEUE.claim(limit, LEASE, now, holder)]
    if not ids:
        return 0
    sender = WelcomeSender(holder)
    try:
        for row in WelcomeDelivery.objects.filter(pk__in=ids).select_related("subscriber").order_by("pk"):
            sender.send(row)
    finally:
        sender.close()
    return len(ids)


def why_not(subscriber_id) -> str:
    """Why the subscriber may not get her welcome mail now, or "" if she may: her consent and the
    switch, read again right before the SMTP transaction."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).only("status", "email", "language").first()
    if subscriber is None:
        return "erased"
    if subscriber.status != Subscriber.Status.CONFIRMED:
        return f"consent {subscriber.status}"
    if is_suppressed(subscriber.email):
        return "suppressed"
    welcome = WelcomeMail.for_language(subscriber.language)
    if welcome is None or not welcome.enabled:
        return "welcome mail switched off"
    return ""


class WelcomeSender:
    """One claim's welcome mails over one SMTP connection; the mail compiled once per language and choice of topics."""

    def __init__(self, holder):
        self.holder = holder
        self.connection = SmtpConnection(parse_transport(settings.DELIVERY_SMTP_URLS[0]))
        self.compiled = {}
        self.mid_domain = settings.CAMPAIGN_FROM_EMAIL.rpartition("@")[2]

    def close(self):
        self.connection.close()

    def send(self, row):
        if QUEUE.lease_left([row.pk], timezone.now(), self.holder).get(row.pk, 0) < LEASE_MARGIN_SECONDS:
            return  # the lease is (nearly) gone: the row is the next claimer's
        reason = why_not(row.subscriber_id)
        if reason:
            self._record(row, State.SKIPPED, reason)
            return
        subscriber = row.subscriber
        compiled = self._compiled(subscriber)
        unsubscribe_url, preferences_url = recipient_links(subscriber.public_id, subscriber.language)
        built = compiled.build(
            subscriber.email,
            {UNSUBSCRIBE_URL: unsubscribe_url, PREFERENCES_URL: preferences_url},
            message_id=verp.welcome_message_id(row.pk, self.mid_domain),
            # RFC 8058 §3.1: the https URI the one-click POST goes to. No mailto: the unsubscribe
            # mailboxes (outbound/verp.py) name a campaign's delivery row, not a welcome mail.
            headers=[("List-Unsubscribe", f"<{unsubscribe_url}>")],
        )

        def consent_now():  # between connecting and MAIL FROM: the latest moment to change our mind
            reason = why_not(row.subscriber_id)
            return Reply("skipped", 0, reason) if reason else None

        reply = self.connection.send(built.envelope_from, built.recipient, built.data, before_transaction=consent_now)
        if reply.kind == "skipped":
            self._record(row, State.SKIPPED, reply.text)
        elif reply.kind == "sent":
            self._record(row, State.SENT, str(reply), message_id=built.message_id)
        elif reply.kind == "permanent":
            self._record(row, State.FAILED, str(reply))
        else:
            self._retry(row, reply)

    def _compiled(self, subscriber):
        language = subscriber.language if subscriber.language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        # Her topics' names in her language (German where a topic has no English name).
        topics = tuple(t.in_language(language).name for t in subscriber.topics.order_by("menu_position", "name"))
        key = (language, topics)
        if key not in self.compiled:
            rendered = render_welcome(WelcomeMail.for_language(language), language=language, topic_names=list(topics))
            from_email = settings.CAMPAIGN_FROM_EMAIL
            self.compiled[key] = CompiledMessage(
                subject=rendered.subject,
                html_body=rendered.html,
                text_body=rendered.text,
                from_name=settings.CAMPAIGN_FROM_NAME,
                from_email=from_email,
                headers=campaign_headers(0, from_email, SiteProfile.load().site_name, feedback_id=FEEDBACK_ID),
                placeholders=(UNSUBSCRIBE_URL, PREFERENCES_URL),
                signing_keys=signing_keys(from_email),
            )
        return self.compiled[key]

    def _record(self, row, state, reply, message_id=""):
        now = timezone.now()
        with transaction.atomic():
            WelcomeDelivery.objects.filter(pk=row.pk, worker=self.holder, state=State.WAITING).update(
                state=state,
                lease_until=None,
                last_reply=reply[:500],
                message_id=message_id,
                sent_at=now if state == State.SENT else None,
            )
        if state != State.SENT:
            log.info("welcome mail to subscriber %s %s: %s", row.subscriber_id, state, reply)

    def _retry(self, row, reply):
        retry_at = RETRY.next_attempt_at(row.attempts, timezone.now())  # the claim counted this attempt
        if retry_at is None:
            log.error("giving up the welcome mail to subscriber %s after %d attempts", row.subscriber_id, row.attempts)
            self._record(row, State.FAILED, str(reply))
            return
        with transaction.atomic():
            WelcomeDelivery.objects.filter(pk=row.pk, worker=self.holder).update(last_reply=str(reply)[:500])
            QUEUE.retry_later([(row.pk, retry_at)])
