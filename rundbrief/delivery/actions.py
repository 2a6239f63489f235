"""Delivery actions outside the worker loop: scheduling a campaign (its audience becomes Delivery
rows). Test sends are in delivery/testsend.py.

schedule_campaign freezes the content and snapshots the audience in one transaction: either the
campaign is scheduled with its complete audience, or nothing happened. It lives here, not in
campaigns/actions.py, because the snapshot writes the delivery ledger and campaigns sit below
delivery (docs/architecture.md); pause, resume and cancel stay campaign actions.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import ngettext

from rundbrief.campaigns.actions import CampaignStateError, lock_campaign, record_campaign_event, require_state
from rundbrief.campaigns.models import Campaign, CampaignEvent
from rundbrief.campaigns.rendering import render_campaign
from rundbrief.delivery.snapshot import snapshot_audience

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
