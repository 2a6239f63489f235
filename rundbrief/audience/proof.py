"""The proof of consent for one address (GDPR Art. 7(1)): its whole ledger history, told in order."""

from rundbrief.audience.addresses import normalise_address, subject_hash
from rundbrief.audience.ledger import verify_events
from rundbrief.audience.models import Subscriber
from rundbrief.audience.queries import ledger_for


def proof_for_address(address):
    normalised = normalise_address(address)
    subject = subject_hash(normalised)
    events = ledger_for(subject)
    subscriber = Subscriber.objects.filter(email=normalised).first()
    story = {}
    for event in events:
        # The latest of each kind answers "when and from where"; the full list keeps every step.
        story[event["kind"]] = {k: event[k] for k in ("id", "occurred_at", "source", "ip", "user_agent", "message_id")}
    shown = {}
    for event in events:
        if event["consent_text"]:
            text = event["consent_text"]
            shown[f"{text['language']} v{text['version']}"] = text
    report = verify_events(event["id"] for event in events)
    return {
        "subject_hash": subject,
        "current_status": subscriber.status if subscriber else ("erased" if "erased" in story else None),
        "consent_texts_shown": list(shown.values()),
        "requested": story.get("requested"),
        "confirmation_sent": story.get("confirmation_sent"),
        "confirmed": story.get("confirmed"),
        "topic_changes": [e for e in events if e["kind"] == "topics_changed"],
        "withdrawn": story.get("withdrawn"),
        "events": events,
        # These events and their links (ledger.verify_events); `rundbrief consent verify` checks the whole chain.
        "ledger": {
            "intact": report.intact,
            "events": report.count,
            "first_broken_event": report.broken_event_id,
            "scope": "events of this address and their links",
        },
    }
