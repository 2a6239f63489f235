"""The public newsletter archive: which campaigns it lists, and the editor's switch to keep one out.

The archive lists finished campaigns only. A campaign that is still sending may yet be paused (the
complaint threshold, docs/bounces.md) or cancelled, and the archive shows what went out to everyone.
Its web version is public earlier, as soon as sending starts: the recipients already hold the link.
"""

from django.db import transaction

from rundbrief.campaigns.actions import lock_campaign, record_campaign_event
from rundbrief.campaigns.models import Campaign, CampaignEvent


def archived_campaigns():
    """Finished campaigns an editor has not kept out, newest first."""
    return Campaign.objects.filter(
        state=Campaign.State.FINISHED, show_in_archive=True, started_at__isnull=False
    ).order_by("-started_at", "-pk")


def set_shown_in_archive(campaign, shown: bool, *, actor=""):
    """Show the campaign in the archive or keep it out; the history notes who did it."""
    with transaction.atomic():
        campaign = lock_campaign(campaign)
        if campaign.show_in_archive == shown:
            return campaign
        campaign.show_in_archive = shown
        campaign.save(update_fields=["show_in_archive", "updated_at"])
        action = CampaignEvent.Action.SHOWN_IN_ARCHIVE if shown else CampaignEvent.Action.HIDDEN_FROM_ARCHIVE
        record_campaign_event(campaign, action, actor)
    return campaign
