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
   (submit_subscription_request, below), which holds all the rules for those.
   The row then waits in stage MAIL, in the same transaction.
2. `confirmations.send_due` (confirmations.py): MAIL rows are leased, their mails sent over one SMTP connection,
   and the `confirmation_sent` events written and the rows deleted in one
   transaction. A process that dies after sending and before recording leaves
   the lease to expire and the mail is sent again: at least once, never lost
   (docs/decisions.md, "Sign-up intake").
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from rundbrief.audience import confirmations, enrolment, mail, outbox
from rundbrief.audience.addresses import subject_hash, truncate_ip
from rundbrief.audience.ledger import append_event
from rundbrief.audience.ledger_batch import EventRow
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
from rundbrief.newsroom.models import Topic
from rundbrief.webhooks import events as webhooks

log = logging.getLogger(__name__)
Stage = SignupIntake.Stage
Kind = ConsentEvent.Kind
BATCH = confirmations.BATCH  # rows applied per transaction, as many as mails per SMTP connection
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
    """Queue a checked sign-up (SubscriptionRequest) in the caller's transaction.

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
    transaction.on_commit(drain_soon)


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
    transaction.on_commit(drain_soon)


# -- one sign-up at a time: the rules for known and blocked addresses --------------------------

# Suppressions a fresh double opt-in may overcome: the erasure entry exists only so that the
# address is not mailed *without* a new opt-in. Bounces and complaints block even the request mail.
REQUEST_MAIL_BLOCKED_BY = {Suppression.Reason.BOUNCED, Suppression.Reason.COMPLAINED, Suppression.Reason.MANUAL}


@dataclass
class SignupOutcome:
    """What happened; never shown to the requester (the response is the same for every outcome)."""

    subscriber: Subscriber | None
    mail_queued: bool


def _chosen_topics(slugs):
    chosen = list(Topic.objects.filter(slug__in=slugs)) if slugs else []
    return list(enrolment.consented_topics(chosen, () if chosen else Topic.objects.all()))


def _unique(queryset):
    """The row of a lookup by a unique key, or None. Without `first()`'s ORDER BY: on the sign-up
    path, compiling the models' default orderings cost more than running the queries."""
    return next(iter(queryset.order_by()[:1]), None)


def _lock_or_create(address, **fields):
    """The address's subscriber, locked for this transaction, and whether it was created now."""
    subscriber = _unique(Subscriber.objects.select_for_update().filter(email=address))
    if subscriber is not None:
        return subscriber, False
    try:
        with transaction.atomic():
            return Subscriber.objects.create(email=address, **fields), True
    except IntegrityError:  # a concurrent request created it first (PostgreSQL)
        return Subscriber.objects.select_for_update().get(email=address), False


@dataclass(frozen=True)
class SubscriptionRequest:
    """A sign-up as checked before any write: the address normalised, nothing read from the database."""

    address: str
    consent_text: ConsentText
    topics: tuple  # slugs; empty: every topic of the consent text
    source: str
    ip: str
    user_agent: str
    language: str
    received_at: object = None  # when the request arrived; None: now


def submit_subscription_request(request: SubscriptionRequest):
    """The writes of one sign-up; joins the caller's transaction if there is one.

    Confirmed and blocked addresses are left as they are and get no mail; a
    pending one gets at most one mail per RUNDBRIEF_DOI_MAIL_INTERVAL_HOURS.
    The mail is owed durably (queue_mail) and leaves after the commit.
    """
    now = timezone.now()
    received_at = request.received_at or now
    subject = subject_hash(request.address)
    chosen = _chosen_topics(request.topics)
    slugs = [t.slug for t in chosen]
    with transaction.atomic(savepoint=False):  # nothing is caught half-way: all or nothing
        suppression = _unique(Suppression.objects.filter(address_hash=subject))
        blocked = suppression is not None and suppression.reason in REQUEST_MAIL_BLOCKED_BY
        subscriber = _unique(Subscriber.objects.select_for_update().filter(email=request.address))
        if subscriber is None and not blocked:
            # A new address, the usual case: inserted as the request leaves it, with its topics and event.
            created = _create_pending(request, subject, chosen, received_at, now)
            if created is not None:
                _emit_requested([(created, slugs)])
                queue_mail(created, created.confirm_nonce, slugs)
                return SignupOutcome(created, mail_queued=True)
            # else a concurrent request created it first (PostgreSQL): on as for a known address
        if subscriber is None:
            subscriber, _created = _lock_or_create(request.address, language=request.language)
        if blocked or subscriber.status == Subscriber.Status.CONFIRMED:
            return SignupOutcome(subscriber, mail_queued=False)
        interval = timedelta(hours=settings.RUNDBRIEF_DOI_MAIL_INTERVAL_HOURS)
        last = subscriber.last_confirmation_mail_at
        if last is not None and now - last < interval and subscriber.status == Subscriber.Status.PENDING:
            # Mail bombing: the address already has a fresh request mail. No new event either.
            return SignupOutcome(subscriber, mail_queued=False)
        subscriber.language = request.language
        subscriber.status = Subscriber.Status.PENDING
        subscriber.requested_at = received_at
        subscriber.confirm_nonce = new_nonce()
        subscriber.last_confirmation_mail_at = now
        subscriber.save()
        enrolment.set_topics(subscriber, chosen)
        append_event(
            Kind.REQUESTED,
            subject_hash=subject,
            subscriber=subscriber,
            consent_text=request.consent_text,
            topics=slugs,
            source=request.source,
            ip=request.ip,
            user_agent=request.user_agent,
            occurred_at=received_at,
        )
        _emit_requested([(subscriber, slugs)])
        queue_mail(subscriber, subscriber.confirm_nonce, slugs)
    return SignupOutcome(subscriber, mail_queued=True)


def _emit_requested(subscribers):
    """`subscription.requested` for (subscriber, topic slugs) pairs, in the caller's transaction: one
    read of the endpoints and one INSERT per batch, nothing more when no endpoint is configured."""
    items = [(webhooks.subscriber_data(s, topics), s.pk) for s, topics in subscribers]
    webhooks.emit_many("subscription.requested", items)


def _create_pending(request, subject, chosen, received_at, now):
    """The new pending subscriber with its topics and `requested` event, or None if the address exists."""
    subscriber = Subscriber(
        email=request.address,
        language=request.language,
        status=Subscriber.Status.PENDING,
        requested_at=received_at,
        confirm_nonce=new_nonce(),
        last_confirmation_mail_at=now,
    )
    columns, _defaults = enrolment.subscriber_columns()
    event = EventRow(
        kind=Kind.REQUESTED,
        subject_hash=subject,
        consent_text_id=request.consent_text.pk,
        consent_text_sha256=request.consent_text.sha256,
        topics=tuple(t.slug for t in chosen),
        source=request.source,
        occurred_at=received_at,
        ip=truncate_ip(request.ip),  # GDPR Art. 5(1)(c), as ledger.append_event stores it
        user_agent=request.user_agent or "",
    )
    new = enrolment.NewSubscriber(enrolment.instance_values(subscriber, columns), tuple(t.pk for t in chosen), event)
    ids = enrolment.create_subscribers([new], columns)
    if request.address not in ids:
        return None
    subscriber.pk = ids[request.address]
    subscriber._state.adding, subscriber._state.db = False, connection.alias
    return subscriber


# -- who drains the queue ---------------------------------------------------------------------

_kicked = threading.Event()


def drain_soon():
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
            confirmations.send_leased(
                leased, mails
            )  # the new sign-ups' mails, leased to this drain when they were applied
            # and whatever else is due: retries, dead senders' rows, known addresses' requests
            done = applied + len(leased) + confirmations.send_due(mails=mails)
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
    lease_until, attempts = (now + confirmations.LEASE, 1) if lease else (now, 0)
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
    public_ids = {n.values[0]: n.values[1] for n in new}  # (email, public id, …): the columns as written above
    _emit_requested(
        (SimpleNamespace(pk=ids[r.email], public_id=public_ids[r.email], email=r.email, language=r.language), r.topics)
        for r in applied
    )
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
    request = SubscriptionRequest(
        address=row.email,
        consent_text=row.consent_text,
        topics=tuple(row.topics),
        source=row.source,
        ip=row.ip,
        user_agent=row.user_agent,
        language=row.language,
        received_at=row.received_at,
    )
    submit_subscription_request(request)
