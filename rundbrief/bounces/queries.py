"""Reads of the bounce log for other parts of the house."""

from rundbrief.audience.addresses import subject_hash
from rundbrief.bounces.models import BounceEvent


def bounces_for_export(subscriber) -> list[dict]:
    """This subscriber's bounce log for the GDPR Art. 15 export (audience.queries.export_subscriber)."""
    events = BounceEvent.objects.filter(recipient_hash=subject_hash(subscriber.email)).order_by("received_at")
    return [
        {
            "kind": e.kind,
            "status": e.status,
            "reason": e.reason,
            "source": e.source,
            "campaign_id": e.campaign_id,
            "received_at": e.received_at.isoformat(),
        }
        for e in events
    ]
