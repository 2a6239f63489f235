"""Retention (GDPR Art. 5(1)(e), storage limitation): the daily job behind `rundbrief retention`.

- Delivery rows of campaigns finished (or cancelled) more than RETENTION_DELIVERY_MONTHS
  ago become per-campaign aggregates (ops.models.DeliveryAggregate); on PostgreSQL the campaign's
  ledger partition is then dropped whole (delivery/partitions.py).
- Consent evidence (truncated IP, user agent) older than RETENTION_EVIDENCE_DAYS is
  deleted, except the evidence of subscribers who are confirmed now: that is the proof
  of the consent still relied on (GDPR Art. 7(1)). The default, 1095 days, is the
  regular limitation period (§ 195 BGB) within which past mailings may be challenged.
  The events stay, so `rundbrief consent verify` still verifies: the evidence enters
  the chain only as a salted commitment, and a missing evidence row is allowed
  (as after erasure, GDPR Art. 17).
- Raw bounce messages older than BOUNCE_RAW_RETENTION_DAYS are deleted
  (rundbrief.bounces.actions.purge_raw_messages).

A setting of 0 switches that part off.
"""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import TruncMinute
from django.utils import timezone

from rundbrief.audience.models import ConsentEvidence, Subscriber
from rundbrief.bounces.actions import purge_raw_messages
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery
from rundbrief.delivery.partitions import drop_campaign_rows
from rundbrief.logs import get_logger
from rundbrief.ops.models import DeliveryAggregate

log = get_logger("rundbrief.ops.retention")
CLOSED = [Campaign.State.FINISHED, Campaign.State.CANCELLED]


@dataclass
class RetentionReport:
    campaigns_reduced: int = 0
    deliveries_removed: int = 0
    evidence_removed: int = 0
    bounce_raw_removed: int = 0

    def __str__(self):
        return (
            f"retention: campaigns_reduced={self.campaigns_reduced} deliveries_removed={self.deliveries_removed} "
            f"evidence_removed={self.evidence_removed} bounce_raw_removed={self.bounce_raw_removed}"
        )


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day and time `months` calendar months earlier (the last day when that month is shorter)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


def _pick(choose, *moments):
    present = [m for m in moments if m is not None]
    return choose(present) if present else None


def reduce_campaign(campaign_id: int) -> int:
    """Replace one campaign's Delivery rows by DeliveryAggregate rows; returns the rows removed."""
    with transaction.atomic():
        rows = Delivery.objects.filter(campaign_id=campaign_id)
        curve = {}
        sent = rows.filter(sent_at__isnull=False)
        first = sent.aggregate(t=Min("sent_at"))["t"]
        if first is not None:
            base = first.replace(second=0, microsecond=0)
            for minute, n in (
                sent.annotate(m=TruncMinute("sent_at")).values("m").annotate(n=Count("id")).values_list("m", "n")
            ):
                key = str(int((minute - base).total_seconds() // 60))
                curve[key] = curve.get(key, 0) + n
        by_state = rows.values("state").annotate(n=Count("id"), first=Min("sent_at"), last=Max("sent_at"))
        for group in by_state:
            aggregate, _created = DeliveryAggregate.objects.select_for_update().get_or_create(
                campaign_id=campaign_id, state=group["state"]
            )
            aggregate.count += group["n"]
            aggregate.first_sent_at = _pick(min, aggregate.first_sent_at, group["first"])
            aggregate.last_sent_at = _pick(max, aggregate.last_sent_at, group["last"])
            if group["state"] == Delivery.State.SENT and curve:
                merged = dict(aggregate.per_minute)
                for key, n in curve.items():
                    merged[key] = merged.get(key, 0) + n
                aggregate.per_minute = merged
            aggregate.save()
        # A DROP of its partition on PostgreSQL, one DELETE on SQLite; bounces keep their record
        # with the link to the row cleared (partitions.py). Django's delete() would load every row.
        removed = drop_campaign_rows(campaign_id)
    return removed


def reduce_deliveries(months: int | None = None, now=None) -> tuple[int, int]:
    months = settings.RETENTION_DELIVERY_MONTHS if months is None else months
    if months <= 0:
        return 0, 0
    cutoff = months_before(now or timezone.now(), months)
    ended_before = Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, created_at__lt=cutoff)
    due = Campaign.objects.filter(ended_before, state__in=CLOSED, deliveries__isnull=False).values_list("pk", flat=True)
    campaigns = removed = 0
    for campaign_id in sorted(set(due)):
        removed += reduce_campaign(campaign_id)
        campaigns += 1
        log.info("delivery rows reduced to aggregates", campaign_id=campaign_id)
    return campaigns, removed


def remove_old_evidence(days: int | None = None, now=None) -> int:
    days = settings.RETENTION_EVIDENCE_DAYS if days is None else days
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    old = ConsentEvidence.objects.filter(event__occurred_at__lt=cutoff)
    still_relied_on = ConsentEvidence.objects.filter(event__subscriber__status=Subscriber.Status.CONFIRMED)
    removed, _ = old.exclude(pk__in=still_relied_on.values("pk")).delete()
    return removed


def purge_bounce_raw() -> int:
    if settings.BOUNCE_RAW_RETENTION_DAYS <= 0:
        return 0
    return purge_raw_messages()


def apply_retention(now=None) -> RetentionReport:
    """Everything retention does, in order; safe to run as often as you like."""
    report = RetentionReport()
    report.campaigns_reduced, report.deliveries_removed = reduce_deliveries(now=now)
    report.evidence_removed = remove_old_evidence(now=now)
    report.bounce_raw_removed = purge_bounce_raw()
    log.info("retention applied", **vars(report))
    return report
