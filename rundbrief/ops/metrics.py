"""Prometheus metrics, computed from the database at scrape time.

A custom Collector runs a handful of aggregate queries (GROUP BY, COUNT) per
scrape; nothing is counted in process memory, so every web node reports the same
numbers and nothing is lost on restart. Send rates are for Prometheus to derive:
`rate(rundbrief_deliveries{state="sent"}[5m])`.
"""

from django.db.models import Count, Sum
from django.db.models.functions import Substr
from django.utils import timezone
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily

from rundbrief.audience import confirmations
from rundbrief.audience.models import ConsentEvent, SignupIntake, Subscriber, Suppression
from rundbrief.bounces.models import BounceEvent
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery import store
from rundbrief.delivery.models import Delivery
from rundbrief.ops.models import DeliveryAggregate
from rundbrief.webhooks import sender
from rundbrief.webhooks.models import Endpoint

OPEN = [Delivery.State.QUEUED, Delivery.State.SENDING]


class RundbriefCollector:
    def collect(self):
        yield from self.deliveries()
        yield self.queue_depth()
        yield self.reply_classes()
        yield self.campaigns()
        yield self.subscribers()
        yield self.suppressions()
        yield self.signup_backlog()
        yield self.job_queues()
        yield self.webhook_endpoints()
        yield self.consent_events()
        yield from self.bounces()

    def deliveries(self):
        gauge = GaugeMetricFamily(
            "rundbrief_deliveries",
            "Messages per campaign and delivery state (including rows reduced to aggregates by retention).",
            labels=["campaign", "state"],
        )
        counts = {}
        for campaign, state, n in (
            Delivery.objects.values_list("campaign_id", "state").annotate(n=Count("id")).order_by()
        ):
            counts[(campaign, state)] = counts.get((campaign, state), 0) + n
        for campaign, state, n in DeliveryAggregate.objects.values_list("campaign_id", "state", "count"):
            counts[(campaign, state)] = counts.get((campaign, state), 0) + n
        for (campaign, state), n in sorted(counts.items()):
            gauge.add_metric([str(campaign), state], n)
        yield gauge

    def queue_depth(self):
        n = Delivery.objects.filter(campaign__state=Campaign.State.SENDING, state__in=OPEN).count()
        return GaugeMetricFamily(
            "rundbrief_delivery_queue_depth", "Messages of sending campaigns still queued or in flight.", value=n
        )

    def reply_classes(self):
        gauge = GaugeMetricFamily(
            "rundbrief_delivery_last_reply",
            "Delivery rows by the class of the last SMTP reply (2xx accepted, 4xx temporary, 5xx permanent).",
            labels=["reply_class"],
        )
        rows = (
            Delivery.objects.exclude(last_reply="")
            .annotate(c=Substr("last_reply", 1, 1))
            .values_list("c")
            .annotate(n=Count("id"))
            .order_by()
        )
        for first_digit, n in rows:
            gauge.add_metric([f"{first_digit}xx" if first_digit.isdigit() else "other"], n)
        return gauge

    def campaigns(self):
        return by_choice(GaugeMetricFamily, "rundbrief_campaigns", "Campaigns by state.", Campaign, "state")

    def subscribers(self):
        return by_choice(GaugeMetricFamily, "rundbrief_subscribers", "Subscribers by status.", Subscriber, "status")

    def suppressions(self):
        return by_choice(
            GaugeMetricFamily, "rundbrief_suppressions", "Suppressed address hashes by reason.", Suppression, "reason"
        )

    def signup_backlog(self):
        # Sign-ups answered but not yet applied or mailed (audience/intake.py); should stay near 0.
        return by_choice(
            GaugeMetricFamily,
            "rundbrief_signup_backlog",
            "Sign-ups answered and not yet applied (received) or not yet mailed (mail).",
            SignupIntake,
            "stage",
        )

    def job_queues(self):
        # The leased job queues (rundbrief/db/queue.py): what is due now but not yet taken grows when
        # the workers fall behind; given up = out of attempts (a failure on a 5xx reply is not counted).
        gauge = GaugeMetricFamily(
            "rundbrief_job_queue_rows",
            "Rows of the leased job queues due now, leased (sign-up mails: or waiting for a retry), and given up.",
            labels=["queue", "status"],
        )
        now = timezone.now()
        queues = (("delivery", store.QUEUE), ("signup_mail", confirmations.MAIL_QUEUE), ("webhooks", sender.QUEUE))
        for name, queue in queues:
            for status, n in queue.counts(now).items():
                gauge.add_metric([name, status], n)
        return gauge

    def webhook_endpoints(self):
        # An endpoint disabled after a day of failures is waiting for the operator (docs/integrations.md).
        gauge = GaugeMetricFamily(
            "rundbrief_webhook_endpoints", "Webhook endpoints, active and disabled.", labels=["state"]
        )
        active = dict(Endpoint.objects.values_list("active").annotate(n=Count("id")).order_by())
        gauge.add_metric(["active"], active.get(True, 0))
        gauge.add_metric(["disabled"], active.get(False, 0))
        return gauge

    def consent_events(self):
        # The ledger is append-only, so these only grow: counters (sign-ups = requested,
        # confirmations = confirmed, withdrawals = withdrawn).
        return by_choice(
            CounterMetricFamily, "rundbrief_consent_events", "Consent ledger events by kind.", ConsentEvent, "kind"
        )

    def bounces(self):
        yield by_choice(
            CounterMetricFamily,
            "rundbrief_bounce_events",
            "Bounces and complaints received, by kind.",
            BounceEvent,
            "kind",
        )
        sent = Delivery.objects.filter(state=Delivery.State.SENT).count()
        sent += DeliveryAggregate.objects.filter(state=Delivery.State.SENT).aggregate(n=Sum("count"))["n"] or 0
        yield GaugeMetricFamily(
            "rundbrief_messages_accepted",
            "Messages accepted by the receiving MTA, all campaigns (the denominator of bounce and complaint rates).",
            value=sent,
        )


def by_choice(family, name, documentation, model, field):
    """One GROUP BY query; every choice of the field reported, the absent ones as 0."""
    metric = family(name, documentation, labels=[field])
    counts = dict(model.objects.values_list(field).annotate(n=Count("id")).order_by())
    for value in model._meta.get_field(field).choices:
        metric.add_metric([value[0]], counts.get(value[0], 0))
    return metric


def registry() -> CollectorRegistry:
    """A fresh registry per scrape: only our collector, nothing held between requests."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(RundbriefCollector())
    return reg
