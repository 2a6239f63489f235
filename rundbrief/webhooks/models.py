"""Endpoint, WebhookMessage (the outbox, one row per endpoint and event) and Attempt (the delivery log).

The design is in docs/integrations.md, "Webhooks": a message is written in the transaction of the
action that caused it (the outbox pattern) and sent by the delivery workers (webhooks/sender.py).
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Endpoint(models.Model):
    """A receiver of signed events: the shop, the CRM. Its secret signs every request (Standard Webhooks)."""

    url = models.CharField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    # Event types it receives; empty: every type (webhooks/events.py EVENT_TYPES).
    events = models.JSONField(_("events"), default=list, blank=True)
    # `whsec_` + base64 of 32 random bytes. Kept as it is: every request is signed with it.
    secret = models.CharField(max_length=100, editable=False)
    active = models.BooleanField(_("active"), default=True)
    disabled_reason = models.CharField(_("reason for disabling"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # The first failed attempt since the last success; None while it answers. 24 h of it disables it.
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["pk"]

    def __str__(self):
        return self.url

    def wants(self, event_type):
        return not self.events or event_type in self.events


class WebhookMessage(models.Model):
    """One event for one endpoint: a leased job (db/queue.py), kept after delivery as the delivery log."""

    class State(models.TextChoices):
        WAITING = "waiting", _("waiting")
        SENDING = "sending", _("sending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("given up")

    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="messages", verbose_name=_("webhook endpoint")
    )
    msg_id = models.CharField(_("message id"), max_length=40, unique=True)  # webhook-id: the receiver's idempotency key
    event_type = models.CharField(_("event"), max_length=50)
    payload = models.TextField(_("payload"))  # the exact body: every attempt sends (and signs) the same bytes
    # The subscriber the payload is about, so that her erasure finds it (GDPR Art. 17). Not a foreign
    # key: the audience sits above this app (docs/architecture.md).
    subscriber_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.WAITING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)  # in this series (a replay starts a new one)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    series_started_at = models.DateTimeField(default=timezone.now)  # retries end 3 days after this
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook message")
        verbose_name_plural = _("webhook messages")
        ordering = ["-pk"]
        indexes = [
            # The claim, per endpoint (the partition) and state, from its first due row (db/queue.py).
            models.Index(fields=["endpoint", "state", "id"], name="webhook_claim"),
            models.Index(fields=["state", "next_attempt_at"], name="webhook_due"),
        ]

    def __str__(self):
        return self.msg_id


class Attempt(models.Model):
    """One HTTP request of a message: when, what came back, how long it took."""

    message = models.ForeignKey(
        WebhookMessage, on_delete=models.CASCADE, related_name="log", verbose_name=_("webhook message")
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        ordering = ["pk"]

    def __str__(self):
        return f"{self.message_id}: {self.status_code or self.error}"

    @property
    def succeeded(self):
        return self.status_code is not None and 200 <= self.status_code < 300
