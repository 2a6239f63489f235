"""Stage 2 of the sign-up intake: the confirmation requests owed, sent durably.

MAIL rows of the intake table are a leased job queue (rundbrief/db/queue.py) in one column:
`lease_until` is the end of a sender's lease or the time of the next attempt. `send_due` leases
due rows, sends their mails over one SMTP connection, and writes the `confirmation_sent` events
and deletes the rows in one transaction. A process that dies after sending and before recording
leaves the lease to expire and the mail is sent again: at least once, never lost
(docs/decisions.md, "Sign-up intake"). Attempts count when a row is claimed, so a sender that
dies mid-batch uses one up too; retries wait 1, 2, 4, 8 minutes, then the mail is given up.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from rundbrief.audience import mail
from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.ledger_batch import EventRow, append_events
from rundbrief.audience.models import ConsentEvent, SignupIntake, Subscriber
from rundbrief.db.queue import JobQueue, Retry
from rundbrief.newsroom.models import Topic

log = logging.getLogger("rundbrief.audience.intake")
Stage = SignupIntake.Stage
BATCH = 200  # mails per SMTP connection
LEASE = timedelta(minutes=2)  # a sender that has not recorded its mails by then is taken for dead
MAX_ATTEMPTS = 5
MAIL_QUEUE = JobQueue.of(SignupIntake, state="stage", waiting=Stage.MAIL.value, count_on_claim=True)
RETRY = Retry(MAX_ATTEMPTS, base_seconds=60)


def _claim_mail(now, limit):
    if not MAIL_QUEUE.has_due(now):  # a read: no write lock for nothing
        return []
    ids = [row_id for (row_id,) in MAIL_QUEUE.claim(limit, LEASE, now)]
    rows = list(SignupIntake.objects.filter(pk__in=ids).order_by("id"))
    for row in rows:
        row.attempts -= 1  # the claim counted this attempt; _send expects the ones made before it
    return rows


def send_due(limit=BATCH, mails=None):
    """Send up to `limit` confirmation requests that are due; returns how many rows were handled."""
    rows = _claim_mail(timezone.now(), limit)
    send_leased(rows, mails)
    return len(rows)


def send_leased(rows, mails=None):
    """Send the leased rows' mails and record the outcome. `row.attempts` counts earlier attempts (the
    intake's drain leases the mails of the sign-ups it has just applied and sends them at once)."""
    if not rows:
        return
    subscribers = Subscriber.objects.in_bulk([r.subscriber_id for r in rows])
    topics = list(Topic.objects.all())  # in the site's order, as the form lists them
    sent, gone, failed = [], [], []
    own = mails is None
    mails = mails or mail.ConfirmationMails()
    try:
        for row in rows:
            subscriber = subscribers.get(row.subscriber_id)
            # Confirmed, withdrawn, erased or asked again since: this request's link is void; no mail.
            if (
                subscriber is None
                or subscriber.status != Subscriber.Status.PENDING
                or subscriber.confirm_nonce != row.nonce
            ):
                gone.append(row)
                continue
            chosen = set(row.topics)
            topic_names = [t.in_language(subscriber.language).name for t in topics if t.slug in chosen]
            try:
                message_id = mails.send(subscriber, row.nonce, topic_names)
            except Exception:
                log.exception("confirmation mail to subscriber %s failed (attempt %d)", subscriber.pk, row.attempts + 1)
                failed.append(row)
                continue
            sent.append((row, subscriber, message_id, timezone.now()))
    finally:
        if own:
            mails.close()
    _record(sent, gone, failed)


def _record(sent, gone, failed):
    with transaction.atomic():
        append_events(
            [
                EventRow(
                    kind=ConsentEvent.Kind.CONFIRMATION_SENT,
                    subject_hash=subject_hash(subscriber.email),
                    subscriber_id=subscriber.pk,
                    message_id=message_id,
                    source="mail:confirmation-request",
                    occurred_at=at,
                )
                for _row, subscriber, message_id, at in sent
            ]
        )
        done = [row.pk for row, *_ in sent] + [row.pk for row in gone]
        retries = []
        for row in failed:
            # Nothing went out, so the once-a-day allowance is given back: asking again sends a mail.
            Subscriber.objects.filter(pk=row.subscriber_id, confirm_nonce=row.nonce).update(
                last_confirmation_mail_at=None
            )
            retry_at = RETRY.next_attempt_at(row.attempts + 1, timezone.now())
            if retry_at is None:
                log.error(
                    "giving up the confirmation mail to subscriber %s after %d attempts",
                    row.subscriber_id,
                    MAX_ATTEMPTS,
                )
                done.append(row.pk)
            else:
                retries.append((row.pk, retry_at))
        MAIL_QUEUE.retry_later(retries)
        SignupIntake.objects.filter(pk__in=done).delete()
