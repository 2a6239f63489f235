"""The event types and `emit`: an event becomes one outbox row per subscribed endpoint, in the caller's transaction.

The outbox pattern: the rows commit or roll back with the action that caused them, so no event is
sent for a change that was rolled back and none is lost when the process dies after the commit;
the delivery workers send them later (webhooks/sender.py). Actions call `emit`; views never do.
What each event's `data` holds, and why, is in docs/integrations.md ("Webhooks").
"""

import datetime as dt
import json
import secrets

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rundbrief.webhooks.models import Endpoint, WebhookMessage

# Every type an endpoint can subscribe to, with the admin's description.
EVENT_TYPES = {
    "subscription.requested": _("sign-up requested (double opt-in mail owed)"),
    "subscription.confirmed": _("sign-up confirmed"),
    "subscription.topics_changed": _("topics changed"),
    "subscription.withdrawn": _("consent withdrawn (unsubscribed)"),
    "subscriber.erased": _("subscriber erased"),
    "address.suppressed": _("address put on the suppression list"),
    "complaint.received": _("spam complaint received"),
    "campaign.started": _("campaign started"),
    "campaign.finished": _("campaign finished"),
}
TEST_EVENT = "webhook.test"  # sent to one endpoint on request (`webhook test`, the admin), whatever it subscribed to


def new_msg_id():
    return f"msg_{secrets.token_hex(12)}"


def iso(moment):
    """UTC, to the second, with a Z: what the payload's `timestamp` and dates in `data` look like."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def body(event_type, data, now):
    """The JSON body as it is sent and signed: {"type", "timestamp", "data"}."""
    return json.dumps(
        {"type": event_type, "timestamp": iso(now), "data": data}, ensure_ascii=False, separators=(",", ":")
    )


def subscribed_endpoints(event_type):
    """Ids of the active endpoints that receive `event_type`: one small query, the whole cost of an
    event when no endpoint is configured."""
    return [
        pk
        for pk, events in Endpoint.objects.filter(active=True).values_list("pk", "events")
        if not events or event_type in events
    ]


def emit(event_type, data, *, subscriber_id=None, now=None):
    """Queue `event_type` with `data` for every subscribed active endpoint; returns the rows written.

    Runs in the caller's transaction (call it inside the action's `transaction.atomic()`).
    `subscriber_id`: the subscriber the data is about, so that her erasure deletes the row."""
    return emit_many(event_type, [(data, subscriber_id)], now=now)


def emit_many(event_type, items, *, now=None):
    """`emit` for a batch of (data, subscriber_id): one read of the endpoints, one INSERT."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    endpoints = subscribed_endpoints(event_type)
    if not endpoints or not items:
        return 0
    now = now or timezone.now()
    rows = []
    for data, subscriber_id in items:
        payload = body(event_type, data, now)
        rows.extend(
            WebhookMessage(
                endpoint_id=endpoint_id,
                msg_id=new_msg_id(),
                event_type=event_type,
                payload=payload,
                subscriber_id=subscriber_id,
                created_at=now,
                series_started_at=now,
            )
            for endpoint_id in endpoints
        )
    WebhookMessage.objects.bulk_create(rows)
    return len(rows)


def forget_subscriber(subscriber_id, email):
    """GDPR Art. 17: delete every message, queued or logged, about the subscriber or naming her address
    (a suppression or complaint of an address without a subscriber row carries only the address)."""
    about = Q(subscriber_id=subscriber_id) if subscriber_id is not None else Q(pk__in=[])
    # The address as json.dumps writes it into the payload (ensure_ascii=False keeps it verbatim).
    quoted = json.dumps(email, ensure_ascii=False)
    return WebhookMessage.objects.filter(about | Q(payload__contains=quoted)).delete()[0]


def subscriber_data(subscriber, topics):
    """`data` of the subscription events: whom it is about (public id and address, so that the receiver
    can match its customer), her language and topics. Never IP addresses, user agents or tokens."""
    return {
        "subscriber": subscriber.public_id,
        "email": subscriber.email,
        "language": subscriber.language,
        "topics": sorted(topics),
    }
