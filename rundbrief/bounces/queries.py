"""Reads of the bounce log for other parts of the house."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection

from rundbrief.audience.addresses import normalise_address, subject_hash
from rundbrief.audience.models import Suppression
from rundbrief.bounces import reasons
from rundbrief.bounces.models import BounceEvent
from rundbrief.bounces.reasons import Policy


def bounces_for_export(subscriber) -> list[dict]:
    """This subscriber's bounce log for the GDPR Art. 15 export (audience.queries.export_subscriber)."""
    events = BounceEvent.objects.filter(recipient_hash=subject_hash(subscriber.email)).order_by("received_at")
    return [
        {
            "kind": e.kind,
            "status": e.status,
            "reason": e.reason,
            "diagnosis": e.diagnosis,
            "source": e.source,
            "campaign_id": e.campaign_id,
            "received_at": e.received_at.isoformat(),
        }
        for e in events
    ]


def _not_address_level(event) -> bool:
    """Would today's policy have left this address alone? A sender reason never suppresses; a counted
    reason suppresses only by counting, so one that suppressed at once (the old rule: any 5.x.x is
    hard) was wrong. A suppression reached by counting stays (docs/bounces.md, "Policy")."""
    rule = reasons.policy(event.reason)
    return rule in (Policy.ALERT, Policy.IGNORE) or (rule == Policy.COUNT and event.kind == BounceEvent.Kind.HARD)


def _suppressing_events(hashes=None):
    """The latest event that suppressed each address still suppressed for a bounce (erased ones excluded)."""
    bounced = Suppression.objects.filter(reason=Suppression.Reason.BOUNCED).values("address_hash")
    events = BounceEvent.objects.filter(outcome=BounceEvent.Outcome.SUPPRESSED, recipient_hash__in=bounced)
    if hashes is not None:
        events = events.filter(recipient_hash__in=hashes)
    events = events.exclude(recipient="").order_by("recipient_hash", "-received_at", "-pk")
    seen = set()
    for event in events.only("recipient_hash", "recipient", "reason", "kind", "status", "received_at").iterator():
        if event.recipient_hash not in seen:
            seen.add(event.recipient_hash)
            yield event


def suppressions_to_review() -> list[BounceEvent]:
    """Addresses suppressed by a bounce whose reason is not about the address, oldest first."""
    return sorted((e for e in _suppressing_events() if _not_address_level(e)), key=lambda e: (e.received_at, e.pk))


def suppression_to_review(address) -> BounceEvent | None:
    """The event behind this address's suppression if it is one to review, else None."""
    try:
        subject = subject_hash(normalise_address(address))
    except ValidationError:  # a malformed address is simply not on the list
        return None
    event = next(_suppressing_events([subject]), None)
    return event if event is not None and _not_address_level(event) else None


def soft_bounces_condition(operator, value, ctx):
    """The segment field "soft bounces" (audience/segments.py): soft-bounce events recorded for the
    subscriber within the last BOUNCE_SOFT_DAYS days, the window the bounce policy counts in."""
    since = connection.ops.adapt_datetimefield_value(ctx.now - timedelta(days=settings.BOUNCE_SOFT_DAYS))
    table = connection.ops.quote_name(BounceEvent._meta.db_table)
    count = (
        f"(SELECT COUNT(*) FROM {table} b WHERE b.subscriber_id = {ctx.alias}.id"
        f" AND b.kind = 'soft' AND b.received_at >= %s)"
    )
    return (f"{count} {'>=' if operator == 'at_least' else '<'} %s", [since, int(value)])
