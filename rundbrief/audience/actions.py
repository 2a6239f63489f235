"""State changes of the audience. Views, commands and the admin call these and nothing else; reads are in queries.py.

Each action is atomic, writes its consent-ledger event in the same transaction,
and queues mail with transaction.on_commit so no mail leaves for a change that
was rolled back.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from rundbrief.audience import enrolment, intake, mail, outbox, queries
from rundbrief.audience.addresses import normalise_address, normalise_fast, subject_hash
from rundbrief.audience.intake import SubscriptionRequest, submit_subscription_request
from rundbrief.audience.ledger import append_event
from rundbrief.audience.models import (
    ConsentEvent,
    ConsentEvidence,
    SignupIntake,
    Subscriber,
    Suppression,
)
from rundbrief.db import windows
from rundbrief.db.bulk import checkpoint_sqlite_wal
from rundbrief.newsroom.models import Topic
from rundbrief.webhooks import events as webhooks

log = logging.getLogger(__name__)
Kind = ConsentEvent.Kind

# Called with the subscriber inside the transaction that confirms her, in registration order. Apps
# above the audience register theirs from AppConfig.ready() (delivery: the welcome mail is queued),
# so what they write commits or rolls back with the confirmation itself and the audience imports none of them.
_on_confirmed = []


def register_on_confirmed(fn):
    """Run `fn(subscriber)` in every confirmation's transaction (once per function, however often registered)."""
    if fn not in _on_confirmed:
        _on_confirmed.append(fn)


def prepare_subscription_request(email, *, consent_text, topics=(), source="", ip="", user_agent="", language="de"):
    """Check a sign-up; ValidationError for a bad address. Reads and writes nothing, so the sign-up
    views run it before their transaction takes the write lock."""
    if consent_text is None:
        raise ValueError("a sign-up needs the consent text that was shown")
    return SubscriptionRequest(
        normalise_fast(email), consent_text, tuple(topics), source, ip, user_agent, language, timezone.now()
    )


def receive_subscription_request(request: SubscriptionRequest):
    """Queue a checked sign-up in the caller's transaction; it is applied and mailed right after the
    commit, in a batch (rundbrief/audience/intake.py). What the form and the API call: the work
    before the answer is the same for every address."""
    intake.receive(request)


def request_subscription(email, **request):
    """Start the double opt-in (UWG §7(2) Nr. 2) for an address now; ValidationError for a bad address.

    Keyword arguments as for prepare_subscription_request.
    """
    return submit_subscription_request(prepare_subscription_request(email, **request))


def _emit(event_type, subscriber, topics):
    """A subscription event for the webhooks, in the action's transaction (webhooks/events.py)."""
    webhooks.emit(event_type, webhooks.subscriber_data(subscriber, topics), subscriber_id=subscriber.pk)


def confirm_subscription(token, *, source="", ip="", user_agent=""):
    """Confirm the double opt-in; the link then stops working. Lifts a suppression (docs/decisions.md, "Suppression and a fresh opt-in")."""
    with transaction.atomic():
        subscriber = queries.pending_subscriber(token)
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        queries.pending_subscriber(token)  # again under the lock: two clicks at once confirm once
        subscriber.status = Subscriber.Status.CONFIRMED
        subscriber.confirmed_at = timezone.now()
        subscriber.withdrawn_at = None
        subscriber.confirm_nonce = ""
        subscriber.save()
        subject = subject_hash(subscriber.email)
        Suppression.objects.filter(address_hash=subject).delete()
        requested = subscriber.consent_events.filter(kind=Kind.REQUESTED).order_by("-pk").first()
        topics = queries.subscribed_topics(subscriber)
        append_event(
            Kind.CONFIRMED,
            subject_hash=subject,
            subscriber=subscriber,
            consent_text=requested.consent_text if requested else None,
            topics=topics,
            source=source,
            ip=ip,
            user_agent=user_agent,
        )
        _emit("subscription.confirmed", subscriber, topics)
        for fn in _on_confirmed:
            fn(subscriber)
    return subscriber


def withdraw_consent(subscriber, *, source="", ip="", user_agent=""):
    """GDPR Art. 7(3): withdrawal works for the future; the history stays. Returns False if already withdrawn."""
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if subscriber.status == Subscriber.Status.WITHDRAWN:
            return False
        subscriber.status = Subscriber.Status.WITHDRAWN
        subscriber.withdrawn_at = timezone.now()
        subscriber.confirm_nonce = ""
        subscriber.save()
        topics = queries.subscribed_topics(subscriber)
        append_event(
            Kind.WITHDRAWN,
            subject_hash=subject_hash(subscriber.email),
            subscriber=subscriber,
            topics=topics,
            source=source,
            ip=ip,
            user_agent=user_agent,
        )
        _emit("subscription.withdrawn", subscriber, topics)
    return True


def update_preferences(subscriber, *, topics, source="", ip="", user_agent=""):
    """Choose topics. Choosing none withdraws consent: nothing is left to send."""
    chosen = list(Topic.objects.filter(slug__in=topics))
    if not chosen:
        return withdraw_consent(subscriber, source=source, ip=ip, user_agent=user_agent)
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        before = queries.subscribed_topics(subscriber)
        enrolment.set_topics(subscriber, chosen)
        after = queries.subscribed_topics(subscriber)
        if before != after:
            append_event(
                Kind.TOPICS_CHANGED,
                subject_hash=subject_hash(subscriber.email),
                subscriber=subscriber,
                topics=after,
                source=source,
                ip=ip,
                user_agent=user_agent,
            )
            _emit("subscription.topics_changed", subscriber, after)
    return before != after


def suppress_address(email, *, reason, source=""):
    """Put an address on the suppression list (bounce, complaint, administrator); only its HMAC is kept."""
    address = normalise_address(email)
    subject = subject_hash(address)
    with transaction.atomic():
        suppression, created = Suppression.objects.get_or_create(address_hash=subject, defaults={"reason": reason})
        subscriber = Subscriber.objects.filter(email=address).first()
        append_event(Kind.SUPPRESSED, subject_hash=subject, subscriber=subscriber, source=source or f"reason:{reason}")
        webhooks.emit(
            "address.suppressed",
            {"email": address, "reason": str(reason), "subscriber": subscriber.public_id if subscriber else None},
            subscriber_id=subscriber.pk if subscriber else None,
        )
    return suppression


def lift_suppression(email, *, reason, source=""):
    """Take an address off the suppression list, but only if it is there for `reason` (a bounce lifted
    after review must not lift a complaint or an erasure). Consent is not touched: a reader who withdrew
    stays withdrawn (GDPR Art. 7(3)); only the block on sending goes. Returns False if nothing was lifted."""
    address = normalise_address(email)
    subject = subject_hash(address)
    with transaction.atomic():
        deleted, _ = Suppression.objects.filter(address_hash=subject, reason=reason).delete()
        if not deleted:
            return False
        subscriber = Subscriber.objects.filter(email=address).first()
        append_event(
            Kind.UNSUPPRESSED, subject_hash=subject, subscriber=subscriber, source=source or f"reason:{reason}"
        )
    return True


EXPORT_MAIL_WINDOW_SECONDS = 3600


def request_export(subscriber) -> bool:
    """Mail an expiring download link to the address itself: data never goes into a form's response.

    At most RUNDBRIEF_EXPORT_MAILS_PER_HOUR per address, and none to a suppressed address (hard
    bounce, complaint): a forwarded /p/ link must not become a way to mail-bomb someone, nor to
    knock on a mailbox that refused us (it hurts the sender's reputation). Returns whether a mail goes out."""
    subject = subject_hash(subscriber.email)
    if Suppression.objects.filter(address_hash=subject).exists():
        return False
    if (
        windows.count(f"export-mail:{subject[:40]}", EXPORT_MAIL_WINDOW_SECONDS)
        > settings.RUNDBRIEF_EXPORT_MAILS_PER_HOUR
    ):
        return False
    transaction.on_commit(lambda: outbox.submit(mail.send_export_link, subscriber))
    return True


def _forget_personal_data(subscriber, subject, since=None):
    evidence = ConsentEvidence.objects.filter(event__subject_hash=subject)
    if since is not None:
        evidence = evidence.filter(event__occurred_at__gte=since)
    evidence.delete()
    # The admin's history would otherwise keep the address as the object's name.
    content_type = ContentType.objects.get_for_model(Subscriber)
    LogEntry.objects.filter(content_type=content_type, object_id=str(subscriber.pk)).delete()
    # A sign-up of the address still in the intake (seconds old) holds it too.
    SignupIntake.objects.filter(email=subscriber.email).delete()
    # Webhook messages about her, queued or logged (GDPR Art. 17: the outbox holds the address too).
    webhooks.forget_subscriber(subscriber.pk, subscriber.email)
    subscriber.delete()  # subscriptions go with it; ledger events keep only subject_hash


def erase_subscriber(subscriber, *, source=""):
    """GDPR Art. 17: remove the personal data; the ledger stays verifiable; the HMAC stays suppressed."""
    with transaction.atomic():
        subject = subject_hash(subscriber.email)
        public_id = subscriber.public_id
        _forget_personal_data(subscriber, subject)
        Suppression.objects.get_or_create(address_hash=subject, defaults={"reason": Suppression.Reason.ERASED})
        append_event(Kind.ERASED, subject_hash=subject, source=source)
        # Only the public id: the receiver knows it from earlier events, and the address we were
        # asked to erase is not written anew (GDPR Art. 17; docs/integrations.md).
        webhooks.emit("subscriber.erased", {"subscriber": public_id})
        # Old page images in the WAL still hold the address until they are copied back and the log is reset.
        transaction.on_commit(_flush_erased_pages)
    return subject


class ErasureNotFlushed(RuntimeError):
    """The erasure is committed, but SQLite's write-ahead log still holds an older copy of the data
    (another transaction is reading); the daily housekeeping and the next erasure try again."""


def _flush_erased_pages():
    if not checkpoint_sqlite_wal():
        log.error("erasure committed, but the write-ahead log could not be reset: a long read transaction is open")
        raise ErasureNotFlushed(
            "erased, but an older copy is still in SQLite's write-ahead log because another transaction is "
            "reading; it is removed once that ends (daily housekeeping, or the next erasure)"
        )


def purge_unconfirmed(days=None):
    """Delete requests not confirmed within `days`; an `expired` event without the address remains."""
    days = settings.RUNDBRIEF_UNCONFIRMED_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    count = 0
    # Sign-ups nobody applied in all that time (no mail thread, no delivery worker ran): they never
    # reached the ledger, so the address simply goes (data minimisation, GDPR Art. 5(1)(c)).
    count += SignupIntake.objects.filter(stage=SignupIntake.Stage.RECEIVED, received_at__lt=cutoff).delete()[0]
    stale = Subscriber.objects.filter(status=Subscriber.Status.PENDING, requested_at__lt=cutoff)
    for pk in list(stale.values_list("pk", flat=True)):
        with transaction.atomic():
            subscriber = Subscriber.objects.select_for_update().filter(pk=pk, status=Subscriber.Status.PENDING).first()
            if subscriber is None:
                continue
            subject = subject_hash(subscriber.email)
            _forget_personal_data(subscriber, subject, since=subscriber.requested_at)
            append_event(Kind.EXPIRED, subject_hash=subject, source=f"purge:{days}d")
            count += 1
    return count
