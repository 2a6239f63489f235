"""Campaign state changes of a campaign's lifecycle: pause, resume, cancel. The admin, the CLI and
the API all call these.

Scheduling (freeze the content and snapshot the audience into the delivery ledger, in one
transaction) is a delivery action: delivery/actions.py `schedule_campaign`, since campaigns sit
below delivery (docs/architecture.md). Every state change records who made it (a CampaignEvent)
in its own transaction, as the consent actions write their ledger event.
"""

from django.db import transaction
from django.utils import timezone

from rundbrief.campaigns.models import Campaign, CampaignEvent

State = Campaign.State


class CampaignStateError(ValueError):
    """The campaign is not in a state that allows this."""


def lock_campaign(campaign):
    """The campaign's row, locked until the transaction ends (call inside transaction.atomic)."""
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


def require_state(campaign, *states):
    if campaign.state not in states:
        allowed = ", ".join(states)
        raise CampaignStateError(f"campaign {campaign.pk} is {campaign.state}; this needs: {allowed}")


def record_campaign_event(campaign, action, actor, detail=""):
    """Append who changed the campaign's state, in the caller's transaction (campaign admin: history)."""
    return CampaignEvent.objects.create(campaign=campaign, action=action, actor=actor[:150], detail=detail[:300])


def pause_campaign(campaign, *, reason="", actor=""):
    """Workers stop starting new transactions for it within a fraction of a second (the consent guard, delivery/guard.py)."""
    with transaction.atomic():
        campaign = lock_campaign(campaign)
        require_state(campaign, State.SCHEDULED, State.SENDING)
        campaign.state = State.PAUSED
        campaign.pause_reason = (reason or (f"paused by {actor}" if actor else "paused"))[:300]
        campaign.save(update_fields=["state", "pause_reason", "updated_at"])
        record_campaign_event(campaign, CampaignEvent.Action.PAUSED, actor, reason)
    return campaign


def resume_campaign(campaign, *, actor=""):
    with transaction.atomic():
        campaign = lock_campaign(campaign)
        require_state(campaign, State.PAUSED)
        campaign.state = State.SENDING if campaign.started_at else State.SCHEDULED
        campaign.pause_reason = ""
        campaign.save(update_fields=["state", "pause_reason", "updated_at"])
        record_campaign_event(campaign, CampaignEvent.Action.RESUMED, actor)
    return campaign


def cancel_campaign(campaign, *, actor=""):
    """Rows still queued are never sent (workers only claim rows of sending campaigns); what was sent stays recorded."""
    with transaction.atomic():
        campaign = lock_campaign(campaign)
        require_state(campaign, State.DRAFT, State.SCHEDULED, State.SENDING, State.PAUSED)
        campaign.state = State.CANCELLED
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["state", "finished_at", "updated_at"])
        record_campaign_event(campaign, CampaignEvent.Action.CANCELLED, actor)
    return campaign
