"""RecipientStore: everything the delivery engine asks of the database.

The engine (engine.py) knows nothing about SQL; it calls these methods. Claims
are atomic: on PostgreSQL `SELECT … FOR UPDATE SKIP LOCKED` lets any number of
workers on any number of hosts take disjoint batches; on SQLite the
transaction begins IMMEDIATE (settings.py), which serialises claimers. After the
claim transaction the lease (`lease_until`) protects the rows; a worker renews it
while it lives, and rows of a dead worker become claimable when it runs out.
"""

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.models import Subscriber, Suppression
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery

State = Delivery.State
REPLY_MAX = 500


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    campaign_id: int
    subscriber_id: int | None
    email: str
    public_id: str
    attempts: int = 0


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    state: str  # a Delivery.State, or "retry" / "release"
    reply: str = ""
    retry_at: dt.datetime | None = None
    attempted: bool = True  # an SMTP transaction was tried (counts towards the attempt limit)


class DjangoRecipientStore:
    def __init__(self, worker_id: str, lease_seconds: int):
        self.worker_id = worker_id[:100]
        self.lease = dt.timedelta(seconds=lease_seconds)

    # -- campaigns ---------------------------------------------------------
    def start_due_campaigns(self):
        now = timezone.now()
        Campaign.objects.filter(state=Campaign.State.SCHEDULED).filter(
            Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now)
        ).update(state=Campaign.State.SENDING, started_at=now)

    def finish_done_campaigns(self):
        """A sending campaign with no queued or sending rows left is finished."""
        open_rows = Delivery.objects.filter(state__in=[State.QUEUED, State.SENDING])
        done = Campaign.objects.filter(state=Campaign.State.SENDING).exclude(pk__in=open_rows.values("campaign_id"))
        done.update(state=Campaign.State.FINISHED, finished_at=timezone.now())

    def campaign_states(self, campaign_ids):
        return dict(Campaign.objects.filter(pk__in=campaign_ids).values_list("pk", "state"))

    def campaign_topics(self, campaign_id):
        return list(Campaign.topics.through.objects.filter(campaign_id=campaign_id).values_list("topic_id", flat=True))

    def campaign(self, campaign_id):
        return Campaign.objects.get(pk=campaign_id)

    def pause(self, campaign_id, reason):
        Campaign.objects.filter(pk=campaign_id, state=Campaign.State.SENDING).update(
            state=Campaign.State.PAUSED, pause_reason=reason[:300]
        )

    # -- work --------------------------------------------------------------
    def _due(self, now):
        return Delivery.objects.filter(campaign__state=Campaign.State.SENDING).filter(
            Q(state=State.QUEUED, next_attempt_at__isnull=True)
            | Q(state=State.QUEUED, next_attempt_at__lte=now)
            | Q(state=State.SENDING, lease_until__lt=now)
        )

    def claim(self, limit: int) -> list[Claimed]:
        now = timezone.now()
        with transaction.atomic():
            ids = list(
                self._due(now)
                .order_by("id")
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("id", flat=True)[:limit]
            )
            if not ids:
                return []
            Delivery.objects.filter(id__in=ids).update(
                state=State.SENDING, lease_until=now + self.lease, worker=self.worker_id, updated_at=now
            )
        rows = Delivery.objects.filter(id__in=ids).order_by("id").values_list(
            "id", "campaign_id", "subscriber_id", "subscriber__email", "subscriber__public_id", "attempts"
        )
        return [Claimed(i, c, s, e or "", p or "", a) for i, c, s, e, p, a in rows]

    def renew_leases(self, delivery_ids):
        """Extend the lease of the rows the engine holds. Only those: a row claimed by a transaction whose
        answer was lost (the database went away) is not renewed, runs out, and is claimed again."""
        now = timezone.now()
        Delivery.objects.filter(id__in=delivery_ids, worker=self.worker_id, state=State.SENDING).update(
            lease_until=now + self.lease
        )

    def lease_left(self, delivery_ids) -> dict[int, float]:
        """Seconds of lease left on each row this worker still holds (rows it lost are absent)."""
        now = timezone.now()
        rows = Delivery.objects.filter(id__in=delivery_ids, worker=self.worker_id, state=State.SENDING)
        return {i: (until - now).total_seconds() for i, until in rows.values_list("id", "lease_until") if until}

    def consent_check(self, claimed: list[Claimed], topics_by_campaign: dict) -> dict[int, str]:
        """Delivery id → "ok", "skipped_withdrawn" or "skipped_suppressed", from the database as it is now.

        Consent means: the subscriber still exists, is confirmed, and still subscribes
        to at least one of the campaign's topics (UWG §7(2) Nr. 2, GDPR Art. 7(3)).
        """
        verdict = {}
        by_campaign = {}
        for item in claimed:
            by_campaign.setdefault(item.campaign_id, []).append(item)
        for campaign_id, items in by_campaign.items():
            ids = {item.subscriber_id for item in items if item.subscriber_id}
            consenting = set(
                Subscriber.objects.filter(
                    pk__in=ids,
                    status=Subscriber.Status.CONFIRMED,
                    subscriptions__topic_id__in=topics_by_campaign[campaign_id],
                ).values_list("pk", flat=True)
            )
            hashes = {subject_hash(item.email): item for item in items if item.email}
            suppressed = set(Suppression.objects.filter(address_hash__in=hashes).values_list("address_hash", flat=True))
            suppressed_ids = {hashes[h].delivery_id for h in suppressed}
            for item in items:
                if item.delivery_id in suppressed_ids:
                    verdict[item.delivery_id] = State.SKIPPED_SUPPRESSED
                elif item.subscriber_id in consenting:
                    verdict[item.delivery_id] = "ok"
                else:
                    verdict[item.delivery_id] = State.SKIPPED_WITHDRAWN
        return verdict

    def record(self, outcomes: list[Outcome]):
        """Write outcomes in one executemany; only rows this worker still holds are touched.

        (A row whose lease ran out may belong to another worker now; its outcome is theirs to write.)
        """
        if not outcomes:
            return
        ops = connection.ops
        now = ops.adapt_datetimefield_value(timezone.now())
        params = []
        for o in outcomes:
            requeue = o.state in ("retry", "release")
            params.append((
                State.QUEUED if requeue else o.state,
                1 if o.attempted else 0,
                o.reply[:REPLY_MAX] if o.reply else None,
                ops.adapt_datetimefield_value(o.retry_at) if requeue else None,
                "" if requeue else self.worker_id,
                now if o.state == State.SENT else None,
                now,
                o.delivery_id,
                self.worker_id,
            ))  # fmt: skip
        table = ops.quote_name(Delivery._meta.db_table)
        sql = (
            f"UPDATE {table} SET state = %s, attempts = attempts + %s, last_reply = COALESCE(%s, last_reply), "
            "lease_until = NULL, next_attempt_at = %s, worker = %s, sent_at = COALESCE(%s, sent_at), updated_at = %s "
            "WHERE id = %s AND worker = %s AND state = 'sending'"
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, params)

    def permanent_failures(self, failures: list[tuple[int, str]]):
        """Hand synchronous 5xx rejections to bounce handling (suppress hard bounces, alert on 5.7.x)."""
        from rundbrief.bounces.actions import record_smtp_rejection

        for delivery_id, reply in failures:
            record_smtp_rejection(delivery_id, reply)

    def housekeeping(self):
        """Daily chores the worker runs when idle: delete unconfirmed sign-ups past their deadline."""
        from rundbrief.audience.actions import purge_unconfirmed
        from rundbrief.ops.retention import apply_retention

        purge_unconfirmed()
        apply_retention()  # storage limitation, GDPR Art. 5(1)(e)

    def has_open_work(self) -> bool:
        """Rows that will still be sent: queued (now or later) or held by a live or dead worker."""
        now = timezone.now()
        if Campaign.objects.filter(state=Campaign.State.SCHEDULED).filter(
            Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now)
        ).exists():
            return True
        return Delivery.objects.filter(
            campaign__state=Campaign.State.SENDING, state__in=[State.QUEUED, State.SENDING]
        ).exists()

    def next_wakeup(self):
        """The earliest moment a row becomes due (retry time or lease end), or None."""
        rows = Delivery.objects.filter(campaign__state=Campaign.State.SENDING)
        retry = rows.filter(state=State.QUEUED).aggregate(t=Min("next_attempt_at"))["t"]
        lease = rows.filter(state=State.SENDING).exclude(worker=self.worker_id).aggregate(t=Min("lease_until"))["t"]
        times = [t for t in (retry, lease) if t]
        return min(times) if times else None
