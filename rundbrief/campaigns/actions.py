"""A campaign's lifecycle as the editor drives it: schedule, unschedule, pause, resume, cancel,
duplicate. The admin, the CLI and the API all call these.

Scheduling only sets the time: nothing is rendered and nobody is chosen yet. The content is frozen
and the audience snapshotted when sending starts (delivery/actions.py `start_campaign`, run by a
worker once the time has come), so a digest scheduled for Monday 09:00 carries the articles published
until then and reaches the people who subscribed until then. Every state change records who made it
(a CampaignEvent) in its own transaction, as the consent actions write their ledger event.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext

from rundbrief.campaigns.audience import audience_count
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


def schedule_campaign(campaign, *, at=None, actor=""):
    """draft → scheduled, to be sent at `at` (default: now). Unschedule it again until sending starts.

    The returned campaign carries `recipients_now`, the audience as counted for its history, so
    callers that show the number do not count a million subscribers a second time."""
    with transaction.atomic():
        campaign = lock_campaign(campaign)
        require_state(campaign, State.DRAFT)
        if not campaign.topics.exists():
            raise CampaignStateError(f"campaign {campaign.pk} has no topics, so it has no audience")
        campaign.scheduled_at = at or timezone.now()
        campaign.state = State.SCHEDULED
        campaign.pause_reason = ""
        campaign.save(update_fields=["scheduled_at", "state", "pause_reason", "updated_at"])
        count = audience_count(campaign)
        # Written in the actor's language (the admin's, or LANGUAGE_CODE for commands), as a log line is.
        detail = ngettext(
            "%(count)d recipient, sending from %(at)s",
            "%(count)d recipients, sending from %(at)s",
            count,
        ) % {"count": count, "at": date_format(timezone.localtime(campaign.scheduled_at), "SHORT_DATETIME_FORMAT")}
        record_campaign_event(campaign, CampaignEvent.Action.SCHEDULED, actor, detail)
    campaign.recipients_now = count
    return campaign


def unschedule_campaign(campaign, *, actor=""):
    """scheduled → draft, editable again; only until a worker has started sending it."""
    with transaction.atomic():
        campaign = lock_campaign(campaign)
        require_state(campaign, State.SCHEDULED)
        campaign.state = State.DRAFT
        campaign.scheduled_at = None
        campaign.save(update_fields=["state", "scheduled_at", "updated_at"])
        record_campaign_event(campaign, CampaignEvent.Action.UNSCHEDULED, actor)
    return campaign


def duplicate_campaign(campaign, *, actor=""):
    """A new draft with the same content, sender, topics and segment, in any state of the original."""
    fields = [
        "segment",
        "subject",
        "preheader",
        "from_name",
        "from_email",
        "reply_to",
        "body_format",
        "body",
    ]
    with transaction.atomic():
        copy = Campaign(**{f: getattr(campaign, f) for f in fields})
        copy.name = (gettext("Copy of %(name)s") % {"name": campaign.name})[:200]
        copy.save()
        copy.topics.set(campaign.topics.all())
        record_campaign_event(copy, CampaignEvent.Action.DUPLICATED, actor, f"#{campaign.pk}")
    return copy


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
