"""Campaign state changes. The admin, the CLI and the API all call these.

schedule_campaign freezes the content and snapshots the audience in one
transaction: either the campaign is scheduled with its complete audience, or
nothing happened. Every state change records who made it (CampaignEvent) in
its own transaction, as the consent actions write their ledger event.
"""

from django.db import transaction
from django.utils import timezone

from rundbrief.campaigns.models import Campaign, CampaignEvent
from rundbrief.delivery.snapshot import snapshot_audience

State = Campaign.State


class CampaignStateError(ValueError):
    """The campaign is not in a state that allows this."""


def _locked(campaign):
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


def _require(campaign, *states):
    if campaign.state not in states:
        allowed = ", ".join(states)
        raise CampaignStateError(f"campaign {campaign.pk} is {campaign.state}; this needs: {allowed}")


def record_campaign_event(campaign, action, actor, detail=""):
    """Append who changed the campaign's state, in the caller's transaction (campaign admin: history)."""
    return CampaignEvent.objects.create(campaign=campaign, action=action, actor=actor[:150], detail=detail[:300])


def schedule_campaign(campaign, *, at=None, actor=""):
    """Render and freeze the content, snapshot the audience, and hand it to the delivery workers."""
    from rundbrief.campaigns.rendering import render_campaign

    with transaction.atomic():
        campaign = _locked(campaign)
        _require(campaign, State.DRAFT)
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
        detail = f"{campaign.recipient_count} recipients, at {campaign.scheduled_at.isoformat()}"
        record_campaign_event(campaign, CampaignEvent.Action.SCHEDULED, actor, detail)
    return campaign


def pause_campaign(campaign, *, reason="", actor=""):
    """Workers stop starting new transactions for it within a fraction of a second (delivery/guard.py)."""
    with transaction.atomic():
        campaign = _locked(campaign)
        _require(campaign, State.SCHEDULED, State.SENDING)
        campaign.state = State.PAUSED
        campaign.pause_reason = (reason or (f"paused by {actor}" if actor else "paused"))[:300]
        campaign.save(update_fields=["state", "pause_reason", "updated_at"])
        record_campaign_event(campaign, CampaignEvent.Action.PAUSED, actor, reason)
    return campaign


def resume_campaign(campaign, *, actor=""):
    with transaction.atomic():
        campaign = _locked(campaign)
        _require(campaign, State.PAUSED)
        campaign.state = State.SENDING if campaign.started_at else State.SCHEDULED
        campaign.pause_reason = ""
        campaign.save(update_fields=["state", "pause_reason", "updated_at"])
        record_campaign_event(campaign, CampaignEvent.Action.RESUMED, actor)
    return campaign


def cancel_campaign(campaign, *, actor=""):
    """Rows still queued are never sent (workers only claim rows of sending campaigns); what was sent stays recorded."""
    with transaction.atomic():
        campaign = _locked(campaign)
        _require(campaign, State.DRAFT, State.SCHEDULED, State.SENDING, State.PAUSED)
        campaign.state = State.CANCELLED
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["state", "finished_at", "updated_at"])
        record_campaign_event(campaign, CampaignEvent.Action.CANCELLED, actor)
    return campaign
