"""Builders shared by the operations tests: a reader's consent history with evidence."""

from rundbrief.audience import actions, tokens
from rundbrief.audience.models import ConsentText, Subscriber


def reader(address, *, confirm=True, withdraw=False, ip="203.0.113.77"):
    """A sign-up from `ip`, optionally confirmed and withdrawn, each with IP and user agent as evidence."""
    agent = "Mozilla/5.0 (Testbrowser)"
    actions.request_subscription(
        address, consent_text=ConsentText.current("de"), source="test", ip=ip, user_agent=agent
    )
    subscriber = Subscriber.objects.get(email=address)
    if confirm:
        token = tokens.make_token(tokens.CONFIRM, subscriber.public_id, subscriber.confirm_nonce)
        actions.confirm_subscription(token, source="test", ip=ip, user_agent=agent)
    if withdraw:
        actions.withdraw_consent(subscriber, source="test", ip=ip, user_agent=agent)
    subscriber.refresh_from_db()
    return subscriber
