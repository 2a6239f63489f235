"""The delivery ledger: one row per (campaign, subscriber), the unit of work and its outcome.

A row is claimed by a worker under a lease (`lease_until`); a lease that runs out
without renewal belongs to a dead worker and the row is claimed again. The
Message-ID is fixed when the row is created, so a copy resent after a crash is
the same message to the recipient's mail system (RFC 5322 §3.6.4).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from rundbrief.audience.models import Subscriber
from rundbrief.campaigns.models import Campaign


class Delivery(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        SKIPPED_WITHDRAWN = "skipped_withdrawn", _("skipped: consent withdrawn")
        SKIPPED_SUPPRESSED = "skipped_suppressed", _("skipped: suppressed")
        BOUNCED = "bounced", _("bounced")

    FINAL_STATES = {State.SENT, State.FAILED, State.SKIPPED_WITHDRAWN, State.SKIPPED_SUPPRESSED, State.BOUNCED}

    # No database-level foreign keys on the ledger (db_constraint=False): on PostgreSQL the deferred
    # RI triggers cost 24-29 s of a 33 s snapshot of a million rows — one queued trigger event and one
    # FOR KEY SHARE row lock on the subscriber per row (docs/benchmarks.md, docs/decisions.md).
    # Deletion still cascades / nulls through Django (on_delete), which is the only way rows go:
    # campaigns are deleted in the admin, subscribers by the erasure action.
    # The campaign column needs no index of its own: the unique (campaign, subscriber) and the
    # claim index (campaign, state, id) both lead with it.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="deliveries", db_constraint=False, db_index=False
    )
    # SET_NULL: erasure (GDPR Art. 17) removes the subscriber; the row stays for the campaign's counts.
    subscriber = models.ForeignKey(
        Subscriber, null=True, on_delete=models.SET_NULL, related_name="deliveries", db_constraint=False
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)
    last_reply = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "subscriber"], name="delivery_once_per_subscriber"),
        ]
        indexes = [
            # The claim query: due rows of one campaign in id order.
            models.Index(fields=["campaign", "state", "id"], name="delivery_claim"),
        ]

    def __str__(self):
        return f"{self.campaign_id}/{self.subscriber_id}: {self.state}"


class TestAddressList(models.Model):
    """The addresses an editor sent the last test to, offered again on the next preview (delivery/testsend.py).

    One row per admin user; the addresses are the editorial team's, never subscribers'."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="test_addresses", verbose_name=_("editor")
    )
    addresses = models.TextField(_("test addresses"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("test address list")
        verbose_name_plural = _("test address lists")

    def __str__(self):
        return str(self.user)

    def as_list(self):
        return self.addresses.split()


class WelcomeDelivery(models.Model):
    """The welcome mail owed to one subscriber (delivery/welcome.py): a leased job queue, one row per
    subscriber ever, so nobody is welcomed twice, whatever happens to her consent afterwards.

    Written in the transaction that confirms her: a crash after the confirmation loses no welcome.
    Kept after sending, for the admin's "welcome sent at"; erasure deletes it with the subscriber."""

    class State(models.TextChoices):
        WAITING = "waiting", _("waiting")
        SENT = "sent", _("sent")
        SKIPPED = "skipped", _("skipped")
        FAILED = "failed", _("failed")

    subscriber = models.OneToOneField(
        Subscriber, on_delete=models.CASCADE, related_name="welcome_delivery", verbose_name=_("subscriber")
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.WAITING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # The end of a sender's lease, or the time of the next attempt; due when past (db/queue.py).
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(_("queued at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("welcome sent at"), null=True, blank=True)
    message_id = models.CharField(_("Message-ID"), max_length=200, blank=True)
    last_reply = models.CharField(_("last reply"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("welcome mail sent")
        verbose_name_plural = _("welcome mails sent")
        indexes = [
            # has_due and the claim: waiting rows whose time has come, without reading the sent ones.
            models.Index(fields=["state", "lease_until"], name="welcome_due"),
        ]

    def __str__(self):
        return f"{self.subscriber_id}: {self.state}"
