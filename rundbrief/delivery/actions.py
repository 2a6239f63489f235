"""Delivery actions outside the worker loop."""

from django.conf import settings

from rundbrief.audience.addresses import normalise_address
from rundbrief.delivery.compose import compile_campaign
from rundbrief.delivery.store import Claimed
from rundbrief.outbound.smtp import SmtpConnection
from rundbrief.outbound.transport import parse_transport


class TestSendError(RuntimeError):
    pass


def send_test_message(campaign, address) -> str:
    """Send the campaign as it stands to one address, exactly as subscribers will get it. Returns the Message-ID.

    The links carry a token for no subscriber, so they open the "unknown link" page.
    Nothing is recorded in the delivery ledger.
    """
    from rundbrief.campaigns.rendering import render_campaign

    address = normalise_address(address)  # ValidationError for a bad address
    if campaign.frozen_html:
        message = compile_campaign(campaign)
    else:
        rendered = render_campaign(campaign)
        message = compile_campaign(campaign, html=rendered.html, text=rendered.text, subject=rendered.subject)
    built = message.build(
        Claimed(delivery_id=0, campaign_id=campaign.pk, subscriber_id=None, email=address, public_id="test-send")
    )
    conn = SmtpConnection(parse_transport(settings.DELIVERY_SMTP_URLS[0]))
    try:
        reply = conn.send(built.envelope_from, built.recipient, built.data)
    finally:
        conn.close()
    if reply.kind != "sent":
        raise TestSendError(f"the SMTP server answered: {reply}")
    return built.message_id
