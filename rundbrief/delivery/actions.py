"""Delivery actions outside the worker loop: scheduling a campaign (its audience becomes Delivery
rows) and test sends.

schedule_campaign freezes the content and snapshots the audience in one transaction: either the
campaign is scheduled with its complete audience, or nothing happened. It lives here, not in
campaigns/actions.py, because the snapshot writes the delivery ledger and campaigns sit below
delivery (docs/architecture.md); pause, resume and cancel stay campaign actions.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import ngettext

from rundbrief.audience.addresses import normalise_address
from rundbrief.campaigns.actions import CampaignStateError, lock_campaign, record_campaign_event, require_state
from rundbrief.campaigns.models import Campaign, CampaignEvent
from rundbrief.campaigns.rendering import render_campaign
from rundbrief.delivery.compose import compile_campaign
from rundbrief.delivery.protocols import Claimed
from rundbrief.delivery.snapshot import snapshot_audience
from rundbrief.outbound.smtp import SmtpConnection
from rundbrief.outbound.transport import parse_transport

State = Campaign.State


def schedule_campaign(campaign, *, at=None, actor=""):
    """Render and freeze the content, snapshot the audience, and hand it to the delivery workers."""
    with transaction.atomic():
        campaign = lock_campaign(campaign)
        require_state(campaign, State.DRAFT)
        if not campaign.topics.exists():
            raise CampaignStateError(f"campaign {campaign.pk} has no topics, so it has no audience")
        rendered = render_campaign(campaign)
        campaign.frozen_subject = rendered.subject
        campaign.frozen_html = rendered.html
        campaign.frozen_text = rendered.text
        campaign.scheduled_at = at or campaign.scheduled_at or timezone.now()
        campaign.state = State.SCHEDULED
        campaign.pause_reason = ""
        campaign.save()
        campaign.recipient_count = snapshot_audience(campaign)
        campaign.save(update_fields=["recipient_count"])
        # Written in the actor's language (the admin's, or LANGUAGE_CODE for commands), as a log line is.
        detail = ngettext(
            "%(count)d recipient, sending from %(at)s",
            "%(count)d recipients, sending from %(at)s",
            campaign.recipient_count,
        ) % {
            "count": campaign.recipient_count,
            "at": date_format(timezone.localtime(campaign.scheduled_at), "SHORT_DATETIME_FORMAT"),
        }
        record_campaign_event(campaign, CampaignEvent.Action.SCHEDULED, actor, detail)
    return campaign


class TestSendError(RuntimeError):
    pass


def send_test_message(campaign, address, *, actor="") -> str:
    """Send the campaign as it stands to one address, exactly as subscribers will get it. Returns the Message-ID.

    The links carry a token for no subscriber, so they open the "unknown link" page.
    Nothing is recorded in the delivery ledger; the campaign's history notes who sent a test and
    its Message-ID, not the address (an audit line is kept longer than the address may be).
    """
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
    record_campaign_event(campaign, CampaignEvent.Action.TEST_SENT, actor, built.message_id)
    return built.message_id
