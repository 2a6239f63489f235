"""The admin dashboard (/admin/dashboard/): headline figures, the audience and delivery at a glance.

Every figure comes from a few aggregate queries (ops/figures.py); nothing is computed per subscriber
or per message. What each figure means is in docs/operations.md, "Dashboard".
"""

import datetime as dt

from django.conf import settings
from django.contrib.admin import site
from django.db.models import Count, F
from django.db.models.functions import TruncDate, TruncMinute
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from rundbrief.audience.models import ConsentEvent, Subscriber
from rundbrief.delivery.models import Delivery
from rundbrief.ops import charts, figures
from rundbrief.ops.models import DeliveryAggregate

DAYS = 90
CAMPAIGNS = 12
WITHDRAWAL_WINDOW = dt.timedelta(days=7)
Kind = ConsentEvent.Kind


def short_date(day):
    # Translated as a date format: German "05.03.", English "Mar 5".
    return date_format(day, _("M j"))


def subscribers_over_time(today):
    """Confirmed, pending and withdrawn at the end of each day, ending at today's counts (figures.growth)."""
    dates, series = figures.growth(today, DAYS)
    named = {Subscriber.Status(status).label: values for status, values in series.items()}
    title = _("Subscribers over the last %(days)d days") % {"days": DAYS}
    return charts.line_chart([short_date(day) for day in dates], named, title)


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
        (short_date(week), counts[Kind.CONFIRMED] / counts[Kind.REQUESTED] if counts[Kind.REQUESTED] else 0.0)
        for week, counts in sorted(weeks.items())
    ]
    return charts.bar_chart(bars, _("Sign-up → confirmation, per week"), fmt=charts.percent)


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
    labels = [_("+%(minutes)s min") % {"minutes": m} for m in range(length)]
    title = _("Delivery curve of #%(id)s %(name)s (messages per minute)") % {"id": campaign.pk, "name": campaign.name}
    return charts.line_chart(labels, {_("sent"): [curve.get(m, 0) for m in range(length)]}, title)


def complaint_limits():
    """The complaint chart's lines: amber where the bounces admin warns, red where a campaign pauses."""
    warn, pause = settings.BOUNCE_COMPLAINT_WARN_RATE, settings.BOUNCE_COMPLAINT_PAUSE_RATE
    return [
        (warn, _("warning %(rate)s") % {"rate": charts.percent(warn)}, charts.WARN_COLOUR),
        (pause, _("pause %(rate)s") % {"rate": charts.percent(pause)}, charts.STOP_COLOUR),
    ]


def rate_charts(campaigns, rates):
    """(title, chart): complaint rate with its thresholds, and bounce rate, per campaign over accepted messages."""
    complaints = [(f"#{c.pk}", rates[c.pk].complaint_rate) for c in campaigns]
    bounces = [(f"#{c.pk}", rates[c.pk].bounce_rate) for c in campaigns]
    complaint_title, bounce_title = _("Complaint rate per campaign"), _("Bounce rate per campaign")
    return [
        (complaint_title, charts.bar_chart(complaints, complaint_title, charts.percent, complaint_limits())),
        (bounce_title, charts.bar_chart(bounces, bounce_title, charts.percent, top_at_least=0.01)),
    ]


def tone(rate):
    """The colour class of a complaint rate: above the warning or above the pause threshold."""
    if rate > settings.BOUNCE_COMPLAINT_PAUSE_RATE:
        return "stop"
    return "warn" if rate > settings.BOUNCE_COMPLAINT_WARN_RATE else ""


def headline(today, now, last, rates):
    """The big figures at the top, formatted for the active language: the audience, then the last campaign."""
    week, month = figures.recent_movement(today, 7), figures.recent_movement(today, 30)
    audience = [
        {"label": _("Confirmed subscribers"), "value": charts.count(now[Subscriber.Status.CONFIRMED])},
        {"label": _("New in the last 7 days"), "value": charts.count(week["confirmed"])},
        {"label": _("New in the last 30 days"), "value": charts.count(month["confirmed"])},
        {"label": _("Withdrawals in the last 30 days"), "value": charts.count(month["withdrawn"])},
    ]
    if last is None:
        return [(_("Subscribers"), audience)]
    rate = rates[last.pk]
    when = date_format(timezone.localtime(last.started_at), "SHORT_DATETIME_FORMAT")
    campaign = [
        {"label": _("Delivered"), "value": charts.count(rate.sent)},
        {"label": _("Bounce rate"), "value": charts.percent(rate.bounce_rate)},
        {"label": _("Complaint rate"), "value": charts.percent(rate.complaint_rate), "tone": tone(rate.complaint_rate)},
    ]
    title = _("Last campaign: %(name)s, %(when)s") % {"name": last.name, "when": when}
    return [(_("Subscribers"), audience), (title, campaign)]


def dashboard(request):
    today = timezone.localdate()
    campaigns = figures.recent_campaigns(CAMPAIGNS)
    rates = figures.campaign_rates(campaigns)
    last = campaigns[-1] if campaigns else None
    chosen = next((c for c in campaigns if str(c.pk) == request.GET.get("campaign")), last)
    now = figures.audience_now()
    Status = Subscriber.Status
    context = {
        **site.each_context(request),
        "title": _("Dashboard"),
        "headline": headline(today, now, last, rates),
        "audience": [
            (Status.CONFIRMED.label, charts.count(now[Status.CONFIRMED]), _("may be mailed")),
            (Status.PENDING.label, charts.count(now[Status.PENDING]), _("signed up or imported, not yet confirmed")),
            (Status.WITHDRAWN.label, charts.count(now[Status.WITHDRAWN]), _("unsubscribed; kept as proof")),
            (
                _("suppressed"),
                charts.count(now["suppressed"]),
                _("addresses never mailed again (bounce, complaint, erasure)"),
            ),
        ],
        "topics": [(t.name, charts.count(t.confirmed_subscribers)) for t in figures.topics()],
        "subscribers": subscribers_over_time(today),
        "conversion": conversion(today),
        "withdrawals": withdrawals_per_campaign(campaigns),
        "campaigns": campaigns,
        "chosen": chosen,
        "curve": delivery_curve(chosen) if chosen else None,
        "rates": rate_charts(campaigns, rates),
        "warn_rate": charts.percent(settings.BOUNCE_COMPLAINT_WARN_RATE),
        "pause_rate": charts.percent(settings.BOUNCE_COMPLAINT_PAUSE_RATE),
    }
    return render(request, "ops/dashboard.html", context)
