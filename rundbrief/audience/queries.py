"""Reads of the audience: the proof of consent, the GDPR export, look-ups. Nothing here writes.

State changes are in actions.py. The export (GDPR Art. 15 and 20) covers what the
apps above the audience keep about a subscriber too (deliveries, bounces): those
apps contribute their sections with `register_export_section` from their
AppConfig.ready(), so the audience needs to import none of them.
"""

import hmac

from django.db.models import Count, Q
from django.utils import translation

from rundbrief.audience import tokens
from rundbrief.audience.addresses import normalise_address, subject_hash
from rundbrief.audience.models import ConsentEvent, Subscriber, Suppression
from rundbrief.newsroom.models import Topic

# name → function(subscriber) → JSON-ready data; in registration order (INSTALLED_APPS order).
_export_sections = {}


def register_export_section(name, fn):
    """Add `name: fn(subscriber)` to every subscriber export, after the audience's own sections.

    Called from an app's AppConfig.ready(); registering a name again replaces its function."""
    _export_sections[name] = fn


def subscribed_topics(subscriber):
    return sorted(subscriber.subscriptions.values_list("topic__slug", flat=True))


def status_counts():
    """Subscribers per status, every status present (0 if none): one GROUP BY, the numbers /metrics reports."""
    counts = dict(Subscriber.objects.values_list("status").annotate(n=Count("id")).order_by())
    return {status: counts.get(status, 0) for status in Subscriber.Status.values}


def topics_with_confirmed_counts(topics=None):
    """Topics annotated with `confirmed_subscribers`: people subscribed to the topic whose consent is
    confirmed now, the ones a campaign to the topic would reach (suppression aside). One aggregate query."""
    topics = Topic.objects.all() if topics is None else topics
    confirmed = Q(subscriptions__subscriber__status=Subscriber.Status.CONFIRMED)
    return topics.annotate(confirmed_subscribers=Count("subscriptions", filter=confirmed))


def is_suppressed(email):
    return Suppression.objects.filter(address_hash=subject_hash(normalise_address(email))).exists()


def pending_subscriber(token):
    """The subscriber a confirm token may confirm, or tokens.InvalidToken. Changes nothing."""
    public_id, nonce = tokens.read_token(tokens.CONFIRM, token)
    subscriber = Subscriber.objects.filter(public_id=public_id, status=Subscriber.Status.PENDING).first()
    # Constant-time comparison: the nonce is what makes the link work only once.
    if subscriber is None or not nonce or not hmac.compare_digest(subscriber.confirm_nonce, nonce):
        raise tokens.InvalidToken
    return subscriber


def confirmed_or_withdrawn_by_link(token):
    """The subscriber a genuine confirm link (used or expired) was mailed to, if she is no longer
    pending: the page then says where the link led. None for anyone pending; InvalidToken if forged."""
    public_id, _nonce = tokens.read_token(tokens.CONFIRM, token, expired_ok=True)
    return Subscriber.objects.filter(public_id=public_id).exclude(status=Subscriber.Status.PENDING).first()


def ledger_for(subject):
    """Every consent event of one subject, oldest first, with its evidence while that is kept."""
    events = ConsentEvent.objects.filter(subject_hash=subject).select_related("consent_text", "evidence")
    rows = []
    for event in events.order_by("pk"):
        evidence = getattr(event, "evidence", None)
        rows.append(
            {
                "id": event.pk,
                "kind": event.kind,
                "occurred_at": event.occurred_at.isoformat(),
                "consent_text": {
                    "language": event.consent_text.language,
                    "version": event.consent_text.version,
                    "sha256": event.consent_text_sha256,
                    "text": event.consent_text.text,
                }
                if event.consent_text
                else None,
                "topics": event.topics,
                "source": event.source,
                "ip": evidence.ip if evidence else None,
                "user_agent": evidence.user_agent if evidence else None,
                "message_id": event.message_id or None,
                "hash": event.hash,
            }
        )
    return rows


def export_subscriber(subscriber):
    """Everything kept about one subscriber (GDPR Art. 15 and 20), as JSON-ready data."""
    return {
        "profile": {
            "email": subscriber.email,
            "status": subscriber.status,
            "language": subscriber.language,
            "requested_at": subscriber.requested_at.isoformat(),
            "confirmed_at": subscriber.confirmed_at.isoformat() if subscriber.confirmed_at else None,
            "withdrawn_at": subscriber.withdrawn_at.isoformat() if subscriber.withdrawn_at else None,
            # Custom fields the merchant keeps about her (customer number, customer since…): Art. 15(1).
            "attributes": dict(subscriber.attributes or {}),
        },
        "subscriptions": subscribed_topics(subscriber),
        "labels": export_labels(subscriber),
        "ledger": ledger_for(subject_hash(subscriber.email)),
        **{name: section(subscriber) for name, section in _export_sections.items()},
    }


def export_labels(subscriber):
    """The export's machine values (status, topic slugs) in words of her language: the keys stay
    fixed for programs, the labels are for her (GDPR Art. 12(1): intelligible, in plain language)."""
    with translation.override(subscriber.language):
        topics = Topic.objects.filter(subscriptions__subscriber=subscriber)
        return {
            "status": str(subscriber.get_status_display()),
            "topics": {topic.slug: topic.localised.name for topic in topics.order_by("slug")},
        }
