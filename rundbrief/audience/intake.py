"""The sign-up intake: answer at once, apply in batches, send the confirmation request durably.

A sign-up (form or API) is answered as soon as one row is committed here,
together with its rate-limit counters. That answer is the same for every
address (docs/decisions.md, "Sign-up outcomes look alike"), and now the work behind it is too: no lookup of the
address happens before the answer, so its timing cannot tell a new address
from a known one.

What follows runs in batches, on the web process's mail thread right after the
commit (or inline with RUNDBRIEF_SERVICE_MAIL_ASYNC=0), and in the delivery
worker for anything a dead process left behind:

1. `apply_received`: RECEIVED rows become subscribers, topics and `requested`
   ledger events (occurred_at = when the request arrived: GDPR Art. 7(1), the
   proof names the moment of consent, not of processing). New addresses, the
   usual case, go in with a few bulk statements; an address that is already
   known or on the suppression list takes the one-at-a-time action
   (actions.submit_subscription_request), which holds all the rules for those.
   The row then waits in stage MAIL, in the same transaction.
2. `send_due`: MAIL rows are leased, their mails sent over one SMTP connection,
   and the `confirmation_sent` events written and the rows deleted in one
   transaction. A process that dies after sending and before recording leaves
   the lease to expire and the mail is sent again: at least once, never lost
   (docs/decisions.md, "Sign-up intake").
"""

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from rundbrief.audience import enrolment, mail, outbox
from rundbrief.audience.addresses import subject_hash, truncate_ip
from rundbrief.audience.ledger_batch import EventRow, append_events
from rundbrief.audience.models import (
    ConsentEvent,
    ConsentText,
    SignupIntake,
    Subscriber,
    Suppression,
    new_nonce,
    new_public_id,
)
from rundbrief.db.bulk import datetime_adapter, insert_sql
from rundbrief.db.loop import DatabaseLoop
from rundbrief.db.queue import JobQueue, Retry
from rundbrief.newsroom.models import Topic

log = logging.getLogger(__name__)
Stage = SignupIntake.Stage
BATCH = 200  # rows applied per transaction, mails per SMTP connection
LEASE = timedelta(minutes=2)  # a sender that has not recorded its mails by then is taken for dead
MAX_ATTEMPTS = 5
# Stage MAIL rows are a leased job queue (rundbrief/db/queue.py) in one column: `lease_until` is the
# end of a sender's lease or the time of the next attempt. Attempts count when a row is claimed, so
# a sender that dies mid-batch uses one up too; retries wait 1, 2, 4, 8 minutes.
MAIL_QUEUE = JobQueue.of(SignupIntake, state="stage", waiting=Stage.MAIL.value, count_on_claim=True)
RETRY = Retry(MAX_ATTEMPTS, base_seconds=60)
INSERT_FIELDS = (
    "stage",
    "received_at",
    "email",
    "language",
    "consent_text",
    "topics",
    "source",
    "ip",
    "user_agent",
    "nonce",
    "attempts",
)


def receive(request):
    """Queue a checked sign-up (actions.SubscriptionRequest) in the caller's transaction.

    One plain INSERT: this runs inside the sign-up's write transaction, for every request.
    """
    received_at = connection.ops.adapt_datetimefield_value(request.received_at or timezone.now())
    topics = SignupIntake._meta.get_field("topics").get_db_prep_save(sorted(request.topics), connection)
    # Stored as the ledger will keep them: the IP truncated (GDPR Art. 5(1)(c)), texts cut to the columns.
    values = [
        Stage.RECEIVED.value,
        received_at,
        request.address,
        request.language,
        request.consent_text.pk,
        topics,
        request.source[:300],
        truncate_ip(request.ip),
        (request.user_agent or "")[:300],
        "",
        0,
    ]
    with connection.cursor() as cursor:
        cursor.execute(insert_sql(SignupIntake, INSERT_FIELDS), values)
    transaction.on_commit(kick)


def queue_mail(subscriber, nonce, topic_slugs):
    """Owe `subscriber` a confirmation request, in the caller's transaction; sent after the commit."""
    SignupIntake.objects.create(
        stage=Stage.MAIL,
        email=subscriber.email,
        language=subscriber.language,
        topics=sorted(topic_slugs),
        subscriber=subscriber,
        nonce=nonce,
        lease_until=timezone.now(),
    )
    transaction.on_commit(kick)


# -- who drains the queue ---------------------------------------------------------------------

_kicked = threading.Event()


def kick():
    """After a commit: drain the queue on the mail thread (once, however many sign-ups ask), or now,
    or leave it to the delivery workers (RUNDBRIEF_SIGNUP_PROCESSING=worker)."""
    if not settings.RUNDBRIEF_SERVICE_MAIL_ASYNC:
        drain()
        return
    if settings.RUNDBRIEF_SIGNUP_PROCESSING != "web":
        return
    if not _kicked.is_set():
        _kicked.set()
        outbox.submit(_drain_on_mail_thread)


_thread_mails = None  # the mail thread's ConfirmationMails; only that thread uses it
WEB_GATHER_SECONDS = 0.02


def _drain_on_mail_thread():
    global _thread_mails
    # A moment for the sign-ups of other requests to arrive: a batch of several, not one drain each.
    time.sleep(WEB_GATHER_SECONDS)
    _kicked.clear()  # before draining: a sign-up committed from now on queues another drain
    if _thread_mails is None or _thread_mails.stale():
        if _thread_mails is not None:
            _thread_mails.close()
        # Kept between drains: the compiled mails and the SMTP connection (reopened if the server
        # dropped it), as the worker's Drainer keeps them.
        _thread_mails = mail.ConfirmationMails()
    drain(mails=_thread_mails)


def drain(limit=None, mails=None):
    """Apply and mail until nothing is due (or `limit` rows were handled); returns the steps done
    (a sign-up applied counts one, its mail sent or given up one more).

    `mails`: a mail.ConfirmationMails to reuse (its SMTP connection and compiled mails); by default
    one for this drain, closed at its end."""
    handled = 0
    own = mails is None
    mails = mails or mail.ConfirmationMails()
    try:
        while limit is None or handled < limit:
            applied, leased = _apply_batch(BATCH, lease=True)
            _send(leased, mails)  # the new sign-ups' mails, leased to this drain when they were applied
            # and whatever else is due: retries, dead senders' rows, known addresses' requests
            done = applied + len(leased) + send_due(mails=mails)
            if not done:
                break
            handled += done
    finally:
        if own:
            mails.close()  # QUIT; what the server accepted before stays accepted
    return handled


class Drainer(DatabaseLoop):
    """The delivery worker's sign-up thread: drains the queue until `stop` is set.

    With RUNDBRIEF_SIGNUP_PROCESSING=worker it is the only drain; with "web" it sends
    what a web process left behind (killed before its mail thread got to it, or a
    lease that expired). A cheap read every `poll` seconds while there is nothing to do.
    Under a steady stream of sign-ups it lets them gather for `gather` seconds between
    drains: batches of a few dozen instead of one or two, each costing three short write
    transactions (docs/benchmarks.md, sign-up). Errors, back-off and the thread's database
    connection are DatabaseLoop's (rundbrief/db/loop.py).
    """

    thread_name = "signup-intake"
    log = logging.getLogger(__name__)
    failure_message = "processing queued sign-ups failed"

    def __init__(self, stop, poll=0.2, gather=0.2):
        super().__init__(stop)
        self.poll, self.gather = poll, gather
        self.mails = None

    def step(self):
        self.mails = self.mails or mail.ConfirmationMails()
        busy = drain(limit=BATCH * 5, mails=self.mails)  # then look at `stop` again
        if not busy or self.mails.stale():
            self._close_mails()  # idle: no SMTP connection held open; or time to re-read the site profile
        if not busy:
            close_old_connections()
            return self.poll
        return self.gather if busy < BATCH else 0

    def failure_wait(self):
        return self.poll

    def recover(self):
        self._close_mails()
        super().recover()

    def finish(self):
        self._close_mails()

    def _close_mails(self):
        if self.mails is not None:
            mails, self.mails = self.mails, None
            mails.close()


# -- stage 1: apply ---------------------------------------------------------------------------


def _locked(queryset):
    # PostgreSQL: two drains at once take different rows. SQLite: the write transaction is serial.
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    return queryset


def apply_received(limit=BATCH):
    """Turn up to `limit` received sign-ups into subscribers and ledger events; returns how many.
    Their mails are then due for any sender (send_due)."""
    return _apply_batch(limit, lease=False)[0]


def _apply_batch(limit, lease):
    """(rows applied, rows of new addresses whose mail is leased to the caller if `lease`)."""
    if not SignupIntake.objects.filter(stage=Stage.RECEIVED).exists():  # a read: no write lock for nothing
        return 0, []
    with transaction.atomic():
        rows = list(_locked(SignupIntake.objects.filter(stage=Stage.RECEIVED).order_by("id"))[:limit])
        if not rows:
            return 0, []
        batch, seen = [], set()
        for row in rows:
            # The same address twice in one batch: the second waits for the next batch, where the
            # first has made it a known address with the rules for those (one mail a day).
            if row.email not in seen:
                seen.add(row.email)
                batch.append(row)
        subjects = {row.pk: subject_hash(row.email) for row in batch}
        known = set(Subscriber.objects.filter(email__in=seen).values_list("email", flat=True))
        suppressed = set(
            Suppression.objects.filter(address_hash__in=subjects.values()).values_list("address_hash", flat=True)
        )
        fresh = [r for r in batch if r.email not in known and subjects[r.pk] not in suppressed]
        try:
            with transaction.atomic():
                fresh = _apply_fresh(fresh, subjects, lease)
        except IntegrityError:  # a clash create_subscribers does not skip: every row takes the one-at-a-time path
            fresh = []
        applied = {r.pk for r in fresh}
        others = [r for r in batch if r.pk not in applied]
        for row in others:
            _apply_one(row)
        SignupIntake.objects.filter(pk__in=[r.pk for r in others]).delete()
    return len(batch), fresh if lease else []


def _topics():
    topics = list(Topic.objects.all())
    return topics, {t.slug: t for t in topics}


def _apply_fresh(rows, subjects, lease):
    """Create the rows' subscribers (enrolment.create_subscribers) and move the rows on to stage MAIL;
    returns the rows applied. A row whose address was created meanwhile by another writer is not."""
    if not rows:
        return []
    now = timezone.now()
    # Leased to the drain that applies them (it sends right after the commit), or due for anyone.
    lease_until, attempts = (now + LEASE, 1) if lease else (now, 0)
    every_topic, by_slug = _topics()
    texts = ConsentText.objects.in_bulk({r.consent_text_id for r in rows})
    columns, defaults = enrolment.subscriber_columns()
    adapt = datetime_adapter()
    pending, last_mail = Subscriber.Status.PENDING, adapt(now)
    new = []
    for row in rows:
        chosen = enrolment.consented_topics([by_slug[s] for s in row.topics if s in by_slug], every_topic)
        row.topics = sorted(t.slug for t in chosen)
        row.nonce = new_nonce()
        text = texts.get(row.consent_text_id)
        values = (row.email, new_public_id(), pending, row.language, adapt(row.received_at), None, row.nonce, last_mail)
        event = EventRow(
            kind=ConsentEvent.Kind.REQUESTED,
            subject_hash=subjects[row.pk],
            consent_text_id=row.consent_text_id,
            consent_text_sha256=text.sha256 if text else "",
            topics=tuple(row.topics),
            source=row.source,
            occurred_at=row.received_at,
            ip=row.ip,
            user_agent=row.user_agent,
        )
        new.append(enrolment.NewSubscriber(values + defaults, tuple(t.pk for t in chosen), event))
    ids = enrolment.create_subscribers(new, columns)
    applied = [row for row in rows if row.email in ids]
    for row in applied:
        row.stage, row.subscriber_id = Stage.MAIL, ids[row.email]
        row.lease_until, row.attempts = lease_until, attempts
    # One prepared UPDATE for the batch: the ORM's bulk_update builds a CASE per column and row.
    meta, qn = SignupIntake._meta, connection.ops.quote_name
    names = ["stage", "subscriber", "nonce", "lease_until", "attempts", "topics"]
    fields = [meta.get_field(name) for name in names]
    assignments = ", ".join(f"{qn(f.column)} = %s" for f in fields)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {qn(meta.db_table)} SET {assignments} WHERE id = %s",
            [[f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields] + [row.pk] for row in applied],
        )
    for row in applied:  # in memory, as _claim_mail leaves its rows: the attempts made before this one
        row.attempts = 0
    return applied


def _apply_one(row):
    from rundbrief.audience import actions

    request = actions.SubscriptionRequest(
        address=row.email,
        consent_text=row.consent_text,
        topics=tuple(row.topics),
        source=row.source,
        ip=row.ip,
        user_agent=row.user_agent,
        language=row.language,
        received_at=row.received_at,
    )
    actions.submit_subscription_request(request)


# -- stage 2: mail ----------------------------------------------------------------------------


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
    _send(rows, mails)
    return len(rows)


def _send(rows, mails=None):
    """Send the leased rows' mails and record the outcome. `row.attempts` counts earlier attempts."""
    if not rows:
        return
    subscribers = Subscriber.objects.in_bulk([r.subscriber_id for r in rows])
    topics = list(Topic.objects.values_list("slug", "name"))  # in the site's order, as the form lists them
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
            topic_names = [name for slug, name in topics if slug in chosen]
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
