"""DjangoRecipientStore: the RecipientStore (protocols.py) on the Delivery ledger — everything the
delivery engine asks of the database.

The engine (engine.py) knows nothing about SQL; it calls these methods. The ledger is a leased job
queue (rundbrief/db/queue.py, `QUEUE` below): claims are atomic (SKIP LOCKED on PostgreSQL, BEGIN
IMMEDIATE on SQLite); after the claim transaction the lease (`lease_until`) protects the rows; a
worker renews it while it lives, and rows of a dead worker become claimable when it runs out.
"""

import datetime as dt

from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.db.models import Exists, Min, OuterRef, Q
from django.utils import timezone

from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.models import Subscriber, Subscription, Suppression
from rundbrief.campaigns.models import Campaign
from rundbrief.db.bulk import marks
from rundbrief.db.queue import JobQueue, Partition
from rundbrief.delivery.actions import due_campaign_ids, finish_campaign, start_campaign
from rundbrief.delivery.models import Delivery
from rundbrief.delivery.protocols import Claimed, Disposition, Outcome, Verdict

State = Delivery.State
REPLY_MAX = 500
DELIVERY, CAMPAIGN, SUBSCRIBER, SUBSCRIPTION, SUPPRESSION = (
    connection.ops.quote_name(model._meta.db_table)
    for model in (Delivery, Campaign, Subscriber, Subscription, Suppression)
)

# Per sending campaign: rows whose lease ran out (a dead worker's), then queued rows that are due.
# Attempts are counted when an outcome is recorded: a row released untried (halted, no rate token)
# has not used one. Given up: failed, but not on a permanent (5xx) reply — out of attempts.
QUEUE = JobQueue.of(
    Delivery,
    state="state",
    waiting=State.QUEUED.value,
    held=State.SENDING.value,
    next_attempt="next_attempt_at",
    holder="worker",
    touched="updated_at",
    partition=Partition("campaign_id", f"SELECT id FROM {CAMPAIGN} WHERE state = 'sending' ORDER BY id"),
    returning=("id", "campaign_id", "subscriber_id", "attempts"),
    given_up=("state = %s AND last_reply NOT LIKE %s", (State.FAILED.value, "5%")),
)


class DjangoRecipientStore:
    unavailable = (OperationalError, InterfaceError)  # the database restarted or is unreachable

    def __init__(self, worker_id: str, lease_seconds: int):
        self.worker_id = worker_id[:100]
        self.lease = dt.timedelta(seconds=lease_seconds)

    # -- connections (one per thread: Django's) ------------------------------
    def close(self):
        connection.close()

    def recover(self):
        close_old_connections()

    # -- campaigns ---------------------------------------------------------
    def start_due_campaigns(self):
        """Each scheduled campaign whose time has come: content frozen, audience snapshotted, sending."""
        now = timezone.now()
        for campaign_id in due_campaign_ids(now):
            start_campaign(campaign_id, now=now, actor=f"worker:{self.worker_id}")

    def finish_done_campaigns(self):
        """A sending campaign with no queued or sending rows left is finished."""
        # Correlated per campaign, so it walks the claim index; `pk__in=<all open rows>` read the whole ledger.
        open_rows = Delivery.objects.filter(campaign=OuterRef("pk"), state__in=[State.QUEUED, State.SENDING])
        done = Campaign.objects.filter(state=Campaign.State.SENDING).exclude(Exists(open_rows))
        for campaign_id in list(done.values_list("pk", flat=True)):
            finish_campaign(campaign_id)

    def campaign_states(self, campaign_ids):
        ids = list(campaign_ids)
        if not ids:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, state FROM {CAMPAIGN} WHERE id IN ({marks(len(ids))})", ids)
            return dict(cursor.fetchall())

    def campaign_topics(self, campaign_id):
        return list(Campaign.topics.through.objects.filter(campaign_id=campaign_id).values_list("topic_id", flat=True))

    def pause(self, campaign_id, reason):
        Campaign.objects.filter(pk=campaign_id, state=Campaign.State.SENDING).update(
            state=Campaign.State.PAUSED, pause_reason=reason[:300]
        )

    # -- work --------------------------------------------------------------
    def claim(self, limit: int) -> list[Claimed]:
        """Take up to `limit` due rows under a lease (QUEUE.claim: per sending campaign, rows whose
        lease ran out, then queued rows that are due, each one UPDATE … RETURNING); then one read
        of the addresses.

        Written in SQL rather than the ORM: the claim, the consent check and the guard's queries run
        hundreds of times a second, and building ORM queries cost more CPU than the database did.
        Each statement names one campaign and one state, so it walks the claim index
        (campaign, state, id) from its first due row. The earlier single statement with an OR across
        states and a join to the campaigns made SQLite read every row of the campaign and sort them
        on every claim: quadratic in the audience (docs/benchmarks.md).
        """
        rows = QUEUE.claim(limit, self.lease, timezone.now(), holder=self.worker_id)
        if not rows:
            return []
        subscriber_ids = list({s for _i, _c, s, _a in rows if s is not None})
        people = {}
        if subscriber_ids:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, email, public_id, language FROM {SUBSCRIBER} WHERE id IN ({marks(len(subscriber_ids))})",
                    subscriber_ids,
                )
                people = {i: (e, p, lang) for i, e, p, lang in cursor.fetchall()}
        claimed = []
        for delivery_id, campaign_id, subscriber_id, attempts in rows:
            email, public_id, language = people.get(subscriber_id, ("", "", ""))
            claimed.append(
                Claimed(
                    delivery_id,
                    campaign_id,
                    subscriber_id,
                    email or "",
                    public_id or "",
                    attempts,
                    subject_hash(email) if email else "",
                    language or "",
                )
            )
        return claimed

    def renew_leases(self, delivery_ids):
        """Extend the lease of the rows the engine holds. Only those: a row claimed by a transaction whose
        answer was lost (the database went away) is not renewed, runs out, and is claimed again."""
        QUEUE.renew(delivery_ids, self.lease, timezone.now(), holder=self.worker_id)

    def lease_left(self, delivery_ids) -> dict[int, float]:
        """Seconds of lease left on each row this worker still holds (rows it lost are absent)."""
        return QUEUE.lease_left(delivery_ids, timezone.now(), holder=self.worker_id)

    def consent_check(self, claimed: list[Claimed], topics_by_campaign: dict) -> dict[int, Verdict]:
        """Delivery id → Verdict.OK, WITHDRAWN or SUPPRESSED, from the database as it is now.

        Consent means: the subscriber still exists, is confirmed, and still subscribes
        to at least one of the campaign's topics (UWG §7(2) Nr. 2, GDPR Art. 7(3)).
        """
        verdict = {}
        by_campaign = {}
        for item in claimed:
            by_campaign.setdefault(item.campaign_id, []).append(item)
        hashes = {}
        for item in claimed:
            if item.email:
                hashes.setdefault(item.address_hash or subject_hash(item.email), []).append(item.delivery_id)
        suppressed_ids = set()
        with connection.cursor() as cursor:
            if hashes:
                keys = list(hashes)
                cursor.execute(
                    f"SELECT address_hash FROM {SUPPRESSION} WHERE address_hash IN ({marks(len(keys))})", keys
                )
                for (address_hash,) in cursor.fetchall():
                    suppressed_ids.update(hashes[address_hash])
            for campaign_id, items in by_campaign.items():
                ids = list({item.subscriber_id for item in items if item.subscriber_id})
                topics = list(topics_by_campaign[campaign_id])
                consenting = set()
                if ids and topics:
                    # "+s.status" on SQLite: without it the planner walks the (status, …) index over every
                    # confirmed subscriber and filters by id — a million entries per check at a million
                    # subscribers, several checks a second. The primary key finds the few hundred rows.
                    status = "+s.status" if connection.vendor == "sqlite" else "s.status"
                    cursor.execute(
                        f"SELECT s.id FROM {SUBSCRIBER} s WHERE s.id IN ({marks(len(ids))}) AND {status} = %s "
                        f"AND EXISTS (SELECT 1 FROM {SUBSCRIPTION} sub WHERE sub.subscriber_id = s.id "
                        f"AND sub.topic_id IN ({marks(len(topics))}))",
                        [*ids, Subscriber.Status.CONFIRMED.value, *topics],
                    )
                    consenting = {i for (i,) in cursor.fetchall()}
                for item in items:
                    if item.delivery_id in suppressed_ids:
                        verdict[item.delivery_id] = Verdict.SUPPRESSED
                    elif item.subscriber_id in consenting:
                        verdict[item.delivery_id] = Verdict.OK
                    else:
                        verdict[item.delivery_id] = Verdict.WITHDRAWN
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
            requeue = o.state in (Disposition.RETRY, Disposition.RELEASE)
            params.append(
                (
                    State.QUEUED.value if requeue else str(o.state),  # the other dispositions are Delivery states
                    1 if o.attempted else 0,
                    o.reply[:REPLY_MAX] if o.reply else None,
                    ops.adapt_datetimefield_value(o.retry_at) if requeue else None,
                    "" if requeue else self.worker_id,
                    now if o.state == Disposition.SENT else None,
                    now,
                    o.delivery_id,
                    self.worker_id,
                )
            )
        sql = (
            f"UPDATE {DELIVERY} SET state = %s, attempts = attempts + %s, last_reply = COALESCE(%s, last_reply), "
            "lease_until = NULL, next_attempt_at = %s, worker = %s, sent_at = COALESCE(%s, sent_at), updated_at = %s "
            "WHERE id = %s AND worker = %s AND state = 'sending'"
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, params)

    def has_open_work(self) -> bool:
        """Rows that will still be sent: queued (now or later) or held by a live or dead worker."""
        now = timezone.now()
        if (
            Campaign.objects.filter(state=Campaign.State.SCHEDULED)
            .filter(Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now))
            .exists()
        ):
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
