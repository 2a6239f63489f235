"""Delivery actions outside the worker loop: starting a campaign whose time has come (its content
frozen, its audience becoming Delivery rows). Test sends are in delivery/testsend.py.

start_campaign freezes the content and snapshots the audience in one transaction: either the
campaign is sending with its complete audience, or nothing happened. It lives here, not in
campaigns/actions.py, because the snapshot writes the delivery ledger and campaigns sit below
delivery (docs/architecture.md); schedule, unschedule, pause, resume and cancel stay campaign actions.
"""

import logging

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from rundbrief.campaigns.actions import record_campaign_event
from rundbrief.campaigns.models import Campaign, CampaignEvent
from rundbrief.campaigns.rendering import render_campaign
from rundbrief.delivery.partitions import drop_campaign_rows, prepare_partition
from rundbrief.delivery.snapshot import snapshot_audience
from rundbrief.webhooks import events as webhooks

State = Campaign.State
log = logging.getLogger("rundbrief.delivery")


def vars_of(rendered):
    return {"subject": rendered.subject, "html": rendered.html, "text": rendered.text}


def campaign_data(campaign):
    """`data` of the campaign events (docs/integrations.md): which campaign, what it said, to how many."""
    data = {
        "campaign": campaign.pk,
        "name": campaign.name,
        "subject": campaign.frozen_subject or campaign.subject,
        "recipients": campaign.recipient_count,
        "started_at": webhooks.iso(campaign.started_at) if campaign.started_at else None,
    }
    if campaign.finished_at:
        data["finished_at"] = webhooks.iso(campaign.finished_at)
    return data


def due_campaign_ids(now=None) -> list[int]:
    """Scheduled campaigns whose time has come, oldest first."""
    now = now or timezone.now()
    due = Campaign.objects.filter(state=State.SCHEDULED, scheduled_at__lte=now) | Campaign.objects.filter(
        state=State.SCHEDULED, scheduled_at__isnull=True
    )
    return list(due.order_by("scheduled_at", "pk").values_list("pk", flat=True))


def start_campaign(campaign_id, *, now=None, actor="worker") -> Campaign | None:
    """scheduled → sending: render and freeze the content as it is now, snapshot the audience as it is
    now. A digest without a new article is not sent (cancelled, "skipped" in its history).

    Returns the campaign, or None when it is no longer due or another worker holds it: workers on
    several hosts call this for the same due campaign, and exactly one starts it.
    """
    now = now or timezone.now()
    # Before the snapshot's transaction, in one of its own: attaching the ledger partition locks the
    # parent table until commit, and the snapshot of a million rows takes seconds (partitions.py).
    prepare_partition(campaign_id)
    with transaction.atomic():
        rows = Campaign.objects.filter(pk=campaign_id, state=State.SCHEDULED)
        if connection.features.has_select_for_update_skip_locked:
            # Another worker is snapshotting it (seconds for a million rows): do not queue behind it.
            rows = rows.select_for_update(skip_locked=True)
        campaign = rows.first()  # SQLite: BEGIN IMMEDIATE already serialises writers
        if campaign is None or (campaign.scheduled_at and campaign.scheduled_at > now):
            return None
        rendered = render_campaign(campaign, now=now)
        if rendered.empty:
            campaign.state = State.CANCELLED
            campaign.finished_at = now
            reason = gettext("not sent: the digest had no new articles when sending was due")
            campaign.pause_reason = reason
            campaign.save(update_fields=["state", "finished_at", "pause_reason", "updated_at"])
            record_campaign_event(campaign, CampaignEvent.Action.SKIPPED, actor, reason)
            log.info("campaign %s skipped: a digest without new articles", campaign.pk)
            # Its ledger partition, created above, stays empty: dropped once this commits.
            transaction.on_commit(lambda: drop_campaign_rows(campaign_id))
            return campaign
        campaign.frozen_subject = rendered.subject
        campaign.frozen_html = rendered.html
        campaign.frozen_text = rendered.text
        # The editor's text as written; around it each reader's language (docs/campaigns.md, "Languages").
        campaign.frozen_translations = {
            language: vars_of(render_campaign(campaign, now=now, language=language))
            for language, _name in settings.LANGUAGES
            if language != settings.LANGUAGE_CODE
        }
        campaign.state = State.SENDING
        campaign.started_at = now
        campaign.recipient_count = snapshot_audience(campaign)
        campaign.save()
        detail = ngettext("%(count)d recipient", "%(count)d recipients", campaign.recipient_count) % {
            "count": campaign.recipient_count
        }
        record_campaign_event(campaign, CampaignEvent.Action.STARTED, actor, detail)
        webhooks.emit("campaign.started", campaign_data(campaign))
    log.info("campaign %s started: %s recipients", campaign.pk, campaign.recipient_count)
    return campaign


def finish_campaign(campaign_id, *, now=None) -> bool:
    """sending → finished, once no message is left to send (delivery/store.py finish_done_campaigns).
    Workers on several hosts may call it for the same campaign: exactly one finishes it and emits."""
    now = now or timezone.now()
    with transaction.atomic():
        if not Campaign.objects.filter(pk=campaign_id, state=State.SENDING).update(
            state=State.FINISHED, finished_at=now
        ):
            return False
        webhooks.emit("campaign.finished", campaign_data(Campaign.objects.get(pk=campaign_id)))
    return True
