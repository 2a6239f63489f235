"""The dashboard's figures: the audience now and over time, per topic, and campaign rates.

Aggregate queries only (GROUP BY and COUNT), so a million subscribers cost a few scans and no
Python objects. The figures of today are counts on the Subscriber table, the same numbers
/metrics reports (`rundbrief_subscribers{status}`); the curve is rebuilt from the dates on those
rows, walking back from today's counts, so it ends exactly at them (docs/operations.md, "Dashboard").
"""

import datetime as dt
from collections import defaultdict

from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from rundbrief.audience import queries
from rundbrief.audience.models import Subscriber, Suppression
from rundbrief.bounces.actions import Rates
from rundbrief.bounces.models import BounceEvent
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery
from rundbrief.ops.models import DeliveryAggregate

Status = Subscriber.Status
PENDING, CONFIRMED, WITHDRAWN = Status.PENDING, Status.CONFIRMED, Status.WITHDRAWN


def start_of(day):
    """The first instant of a day in the site's time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def audience_now():
    """Subscribers per status and the suppression list's size: counts, no rows."""
    return {**queries.status_counts(), "suppressed": Suppression.objects.count()}


def _daily(subscribers, at, since, today):
    """(day, n) for the rows of `subscribers` whose moment `at` falls on or after `since`, per local day.
    A moment after today (a clock ahead, an imported date in the future) counts as today."""
    rows = (
        subscribers.alias(at=at)
        .filter(at__gte=since)
        .annotate(day=TruncDate("at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [(min(day, today), n) for day, n in rows]


def _daily_changes(since, today):
    """Per day, how the three statuses changed, read from each subscriber's dates.

    Everyone is pending from their request (an import of confirmed people: from the consent date in
    the file) and confirmed from confirmed_at; a withdrawn person leaves confirmed, or pending if they
    never confirmed, at withdrawn_at. Each row moves exactly as far as its status today, so summing the
    changes of all days gives today's counts."""
    changes = defaultdict(lambda: dict.fromkeys((PENDING, CONFIRMED, WITHDRAWN), 0))
    everyone = Subscriber.objects.all()
    for day, n in _daily(everyone, F("requested_at"), since, today):
        changes[day][PENDING] += n
    confirmed = everyone.filter(Q(status=CONFIRMED) | Q(status=WITHDRAWN, confirmed_at__isnull=False))
    for day, n in _daily(confirmed, Coalesce("confirmed_at", "requested_at"), since, today):
        changes[day][PENDING] -= n
        changes[day][CONFIRMED] += n
    withdrawn_at = Coalesce("withdrawn_at", "requested_at")
    for had_confirmed, left in ((True, CONFIRMED), (False, PENDING)):
        withdrawn = everyone.filter(status=WITHDRAWN, confirmed_at__isnull=not had_confirmed)
        for day, n in _daily(withdrawn, withdrawn_at, since, today):
            changes[day][left] -= n
            changes[day][WITHDRAWN] += n
    return changes


def growth(today, days):
    """(days, {status: counts}): each status at the end of each of the last `days` days, today last.

    Walks back from today's counts, undoing each day's changes. People erased or purged since are no
    longer on the list and not in the past days either (their ledger events keep no status)."""
    start = today - dt.timedelta(days=days - 1)
    changes = _daily_changes(start_of(start), today)
    now = queries.status_counts()
    level = {status: now[status] for status in (CONFIRMED, PENDING, WITHDRAWN)}
    series = {status: [] for status in level}
    for offset in range(days):
        day = today - dt.timedelta(days=offset)
        for status in level:
            series[status].append(max(0, level[status]))
            level[status] -= changes[day][status]
    dates = [start + dt.timedelta(days=offset) for offset in range(days)]
    return dates, {status: values[::-1] for status, values in series.items()}


def recent_movement(today, days):
    """People confirmed in the last `days` days and still confirmed; people who withdrew in them."""
    since = start_of(today - dt.timedelta(days=days - 1))
    return {
        "confirmed": Subscriber.objects.filter(status=CONFIRMED, confirmed_at__gte=since).count(),
        "withdrawn": Subscriber.objects.filter(status=WITHDRAWN, withdrawn_at__gte=since).count(),
    }


def topics():
    """Every topic with its confirmed subscribers (one aggregate query), in menu order: Meta.ordering is
    not applied to a query with GROUP BY, so it is named here."""
    return list(queries.topics_with_confirmed_counts().order_by("menu_position", "name"))


def recent_campaigns(limit):
    """The last `limit` campaigns that started sending, oldest first."""
    return list(Campaign.objects.filter(started_at__isnull=False).order_by("-started_at")[:limit][::-1])


def campaign_rates(campaigns):
    """{campaign id: Rates} over the messages the receiving servers accepted, as the bounce policy
    counts them (bounces/actions.py: campaign_rates): later bounced ones included, unverified reports
    (not ours) left out. After retention the accepted count comes from the campaign's aggregate."""
    ids = [c.pk for c in campaigns]
    accepted = dict(
        Delivery.objects.filter(campaign__in=ids, sent_at__isnull=False)
        .values_list("campaign_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    reduced = DeliveryAggregate.objects.filter(campaign__in=ids, state=Delivery.State.SENT)
    for campaign_id, n in reduced.values_list("campaign_id", "count"):
        accepted[campaign_id] = accepted.get(campaign_id, 0) + n
    events = (
        BounceEvent.objects.filter(campaign__in=ids)
        .exclude(outcome=BounceEvent.Outcome.UNVERIFIED)
        .values_list("campaign_id", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {(c, kind): n for c, kind, n in events}
    Kind = BounceEvent.Kind
    return {
        pk: Rates(
            accepted.get(pk, 0),
            counts.get((pk, Kind.HARD), 0),
            counts.get((pk, Kind.SOFT), 0),
            counts.get((pk, Kind.COMPLAINT), 0),
        )
        for pk in ids
    }
