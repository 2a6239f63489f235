"""The admin dashboard (/admin/dashboard/): audience and delivery at a glance, as server-side SVG.

Every figure comes from a few aggregate queries; nothing is computed per subscriber or per message.
"""

import datetime as dt

from django.conf import settings
from django.contrib.admin import site
from django.db.models import Count, F
from django.db.models.functions import TruncDate, TruncMinute
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from rundbrief.audience.models import ConsentEvent, Subscriber
from rundbrief.bounces.models import BounceEvent
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery
from rundbrief.ops import charts
from rundbrief.ops.models import DeliveryAggregate

DAYS = 90
CAMPAIGNS = 12
WITHDRAWAL_WINDOW = dt.timedelta(days=7)
Kind = ConsentEvent.Kind


def _percent(value):
    return f"{value:.2%}".replace(".00", "")


def subscribers_over_time(today):
    """Confirmed, pending and withdrawn per day, rebuilt from the consent ledger's daily counts."""
    start = today - dt.timedelta(days=DAYS - 1)
    before = start - dt.timedelta(days=1)  # everything older is summed into the day before the chart
    daily = {}
    rows = (
        ConsentEvent.objects.annotate(day=TruncDate("occurred_at"))
        .values_list("day", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    for day, kind, n in rows:
        bucket = daily.setdefault(max(day, before), {})
        bucket[kind] = bucket.get(kind, 0) + n
    kinds = [Kind.REQUESTED, Kind.CONFIRMED, Kind.IMPORTED, Kind.WITHDRAWN, Kind.EXPIRED]
    totals = {kind: daily.get(before, {}).get(kind, 0) for kind in kinds}
    labels, series = [], {_("confirmed"): [], _("pending"): [], _("withdrawn"): []}
    for offset in range(DAYS):
        day = start + dt.timedelta(days=offset)
        for kind in totals:
            totals[kind] += daily.get(day, {}).get(kind, 0)
        confirmed = totals[Kind.CONFIRMED] + totals[Kind.IMPORTED] - totals[Kind.WITHDRAWN]
        labels.append(day.strftime("%d.%m."))
        series[_("confirmed")].append(max(0, confirmed))
        series[_("pending")].append(max(0, totals[Kind.REQUESTED] - totals[Kind.CONFIRMED] - totals[Kind.EXPIRED]))
        series[_("withdrawn")].append(totals[Kind.WITHDRAWN])
    return charts.line_chart(labels, series, _("Subscribers over the last %(days)d days") % {"days": DAYS})


def conversion(today):
    """Confirmations per sign-up, per week (double opt-in, UWG §7(2) Nr. 2)."""
    start = today - dt.timedelta(weeks=12)
    rows = (
        ConsentEvent.objects.filter(kind__in=[Kind.REQUESTED, Kind.CONFIRMED], occurred_at__date__gte=start)
        .annotate(day=TruncDate("occurred_at"))
        .values_list("day", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    weeks = {}
    for day, kind, n in rows:
        week = day - dt.timedelta(days=day.weekday())
        weeks.setdefault(week, {Kind.REQUESTED: 0, Kind.CONFIRMED: 0})[kind] += n
    bars = [
        (f"{week:%d.%m.}", counts[Kind.CONFIRMED] / counts[Kind.REQUESTED] if counts[Kind.REQUESTED] else 0.0)
        for week, counts in sorted(weeks.items())
    ]
    return charts.bar_chart(bars, _("Sign-up → confirmation, per week"), fmt=_percent)


def recent_campaigns():
    return list(Campaign.objects.filter(started_at__isnull=False).order_by("-started_at")[:CAMPAIGNS][::-1])


def withdrawals_per_campaign(campaigns):
    """Recipients of a campaign who withdrew within 7 days of its start."""
    rows = dict(
        Delivery.objects.filter(
            campaign__in=campaigns,
            subscriber__status=Subscriber.Status.WITHDRAWN,
            subscriber__withdrawn_at__gte=F("campaign__started_at"),
            subscriber__withdrawn_at__lt=F("campaign__started_at") + WITHDRAWAL_WINDOW,
        )
        .values_list("campaign_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    bars = [(f"#{c.pk}", rows.get(c.pk, 0)) for c in campaigns]
    return charts.bar_chart(bars, _("Withdrawals within 7 days of each campaign"))


def delivery_curve(campaign):
    """Messages accepted per minute since the campaign's first message."""
    per_minute = {}
    sent = Delivery.objects.filter(campaign=campaign, sent_at__isnull=False)
    for minute, n in sent.annotate(m=TruncMinute("sent_at")).values_list("m").annotate(n=Count("id")).order_by("m"):
        per_minute[minute] = n
    if per_minute:
        first = min(per_minute)
        curve = {int((m - first).total_seconds() // 60): n for m, n in per_minute.items()}
    else:
        aggregate = DeliveryAggregate.objects.filter(campaign=campaign, state=Delivery.State.SENT).first()
        curve = {int(k): n for k, n in (aggregate.per_minute if aggregate else {}).items()}
    length = max(curve, default=-1) + 1
    labels = [f"+{m} min" for m in range(length)]
    title = _("Delivery curve of #%(id)s %(name)s (messages per minute)") % {"id": campaign.pk, "name": campaign.name}
    return charts.line_chart(labels, {_("sent"): [curve.get(m, 0) for m in range(length)]}, title)


def bounce_rates(campaigns):
    """Hard bounces and complaints per accepted message, against Gmail's 0.1 % and 0.3 % lines."""
    sent = dict(
        Delivery.objects.filter(campaign__in=campaigns, state=Delivery.State.SENT)
        .values_list("campaign_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for campaign_id, n in DeliveryAggregate.objects.filter(campaign__in=campaigns, state="sent").values_list(
        "campaign_id", "count"
    ):
        sent[campaign_id] = sent.get(campaign_id, 0) + n
    events = (
        BounceEvent.objects.filter(campaign__in=campaigns)
        .values_list("campaign_id", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {(c, k): n for c, k, n in events}
    limits = [(settings.BOUNCE_COMPLAINT_WARN_RATE, "0.1 %"), (settings.BOUNCE_COMPLAINT_PAUSE_RATE, "0.3 %")]
    result = []
    for kind, title in (("complaint", _("Complaint rate per campaign")), ("hard", _("Hard-bounce rate per campaign"))):
        bars = [(f"#{c.pk}", counts.get((c.pk, kind), 0) / sent[c.pk] if sent.get(c.pk) else 0.0) for c in campaigns]
        result.append(charts.bar_chart(bars, title, fmt=_percent, limits=limits if kind == "complaint" else ()))
    return result


def dashboard(request):
    today = timezone.localdate()
    campaigns = recent_campaigns()
    chosen = next(
        (c for c in campaigns if str(c.pk) == request.GET.get("campaign")), campaigns[-1] if campaigns else None
    )
    context = {
        **site.each_context(request),
        "title": _("Dashboard"),
        "subscribers": subscribers_over_time(today),
        "conversion": conversion(today),
        "withdrawals": withdrawals_per_campaign(campaigns),
        "campaigns": campaigns,
        "chosen": chosen,
        "curve": delivery_curve(chosen) if chosen else None,
        "rates": bounce_rates(campaigns),
    }
    return render(request, "ops/dashboard.html", context)
