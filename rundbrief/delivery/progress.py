"""How far a campaign has got: counts per delivery state and the recent sending rate."""

import datetime as dt

from django.db.models import Count
from django.utils import timezone

from rundbrief.delivery.models import Delivery

RATE_WINDOW = dt.timedelta(minutes=1)


def campaign_progress(campaign) -> dict:
    counts = dict(
        Delivery.objects.filter(campaign=campaign)
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    result = {state: counts.get(state, 0) for state in Delivery.State.values}
    result["total"] = sum(counts.values())
    since = timezone.now() - RATE_WINDOW
    recent = Delivery.objects.filter(campaign=campaign, state=Delivery.State.SENT, sent_at__gte=since).count()
    result["rate_per_minute"] = recent
    result["state"] = campaign.state
    result["pause_reason"] = campaign.pause_reason
    return result
