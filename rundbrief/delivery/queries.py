"""Reads of the delivery ledger for other parts of the house."""

from rundbrief.delivery.models import Delivery, WelcomeDelivery


def deliveries_for_export(subscriber) -> list[dict]:
    """This subscriber's rows of the delivery ledger for the GDPR Art. 15 export (audience.queries)."""
    return [
        {
            "campaign_id": campaign_id,
            "subject": subject,
            "state": state,
            "sent_at": sent_at.isoformat() if sent_at else None,
        }
        for campaign_id, subject, state, sent_at in Delivery.objects.filter(subscriber=subscriber)
        .order_by("created_at", "id")
        .values_list("campaign_id", "campaign__frozen_subject", "state", "sent_at")
    ]


def welcome_for_export(subscriber) -> dict | None:
    """Her welcome mail, if one was owed, for the GDPR Art. 15 export: its state and when it was sent."""
    row = WelcomeDelivery.objects.filter(subscriber=subscriber).first()
    if row is None:
        return None
    return {"state": row.state, "sent_at": row.sent_at.isoformat() if row.sent_at else None}
