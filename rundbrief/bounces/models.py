"""What came back: bounce and complaint events, and alerts for the operator.

A BounceEvent keeps the recipient twice: as the keyed hash (HMAC via
audience.addresses.subject_hash, which survives erasure and matches the
suppression list) and as text for the operator, which erasure blanks
(bounces/signals.py; GDPR Art. 17). The raw message is kept for
BOUNCE_RAW_RETENTION_DAYS and then deleted by `rundbrief bounces purge`.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rundbrief.audience.models import Subscriber
from rundbrief.bounces.reasons import Reason
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery


class BounceEvent(models.Model):
    class Kind(models.TextChoices):
        HARD = "hard", _("hard bounce")
        SOFT = "soft", _("soft bounce")
        COMPLAINT = "complaint", _("spam complaint")
        SENDER_POLICY = "sender_policy", _("rejected for sender policy")

    class Source(models.TextChoices):
        SMTP_SYNC = "smtp-sync", _("SMTP reply during delivery")
        INBOUND_SMTP = "inbound-smtp", _("inbound SMTP")
        INBOUND_LMTP = "inbound-lmtp", _("inbound LMTP")
        IMAP = "imap", _("IMAP mailbox")
        API = "api", _("called from code")

    class Outcome(models.TextChoices):
        SUPPRESSED = "suppressed", _("address suppressed")
        COUNTED = "counted", _("counted (soft)")
        WITHDRAWN = "withdrawn", _("consent withdrawn and suppressed")
        ALERTED = "alerted", _("operator alerted")
        UNVERIFIED = "unverified", _("not ours: no valid VERP id or Message-ID")

    # No database-level foreign key: on PostgreSQL the delivery ledger is partitioned by campaign, and
    # a partitioned table's primary key must include the partition column, so nothing can reference
    # its id alone (docs/decisions.md, "The delivery ledger, one partition per campaign"). Dropping a
    # campaign's rows clears this column first (delivery/partitions.py).
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="bounces", db_constraint=False
    )
    subscriber = models.ForeignKey(Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="bounces")
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="bounces")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("status code"), max_length=12, blank=True)
    recipient_hash = models.CharField(max_length=64, blank=True, db_index=True)
    recipient = models.CharField(_("recipient"), max_length=254, blank=True)
    # The word of the field's vocabulary (bounces/reasons.py) that decides the policy; blank only on
    # rows recorded before reasons existed and not yet backfilled (migration 0003).
    reason = models.CharField(_("reason"), max_length=20, choices=[(r.value, r.value) for r in Reason], blank=True)
    diagnosis = models.CharField(_("diagnosis"), max_length=500, blank=True)  # the server's own text
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    outcome = models.CharField(_("outcome"), max_length=12, choices=Outcome.choices, blank=True)
    raw_message = models.BinaryField(blank=True, default=b"", editable=False)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = _("bounce event")
        verbose_name_plural = _("bounce log")
        indexes = [models.Index(fields=["campaign", "kind"], name="bounce_campaign_kind")]

    def __str__(self):
        return f"{self.kind} {self.status} {self.received_at:%Y-%m-%d %H:%M}"


class OperatorAlert(models.Model):
    """A rejection about the sender (blocklisted IP, spam filter, DMARC…): fix the sending side, not the audience.

    One per (reason, receiving domain), e.g. key `blocked:gmail.com`."""

    key = models.CharField(max_length=200, unique=True, editable=False)
    status = models.CharField(_("status code"), max_length=12, blank=True)
    message = models.TextField(_("message"))
    first_seen = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now)
    count = models.PositiveIntegerField(_("count"), default=1)
    acknowledged = models.BooleanField(_("acknowledged"), default=False)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)

    class Meta:
        ordering = ["acknowledged", "-last_seen"]
        verbose_name = _("operator alert")
        verbose_name_plural = _("operator alerts")

    def __str__(self):
        return f"{self.status} ×{self.count}: {self.message[:60]}"


class CampaignRates(Campaign):
    """Per-campaign bounce and complaint rates in the admin (a proxy: campaigns/admin.py stays untouched)."""

    class Meta:
        proxy = True
        verbose_name = _("campaign bounce and complaint rate")
        verbose_name_plural = _("campaign bounce and complaint rates")
