"""What is left of a campaign's delivery ledger after retention (GDPR Art. 5(1)(e)).

`rundbrief retention` replaces the per-recipient Delivery rows of campaigns that
finished more than RETENTION_DELIVERY_MONTHS ago by one row per (campaign, state)
here: the counts and the sending curve stay for statistics, the link between a
campaign and a person does not.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from rundbrief.campaigns.models import Campaign


class DeliveryAggregate(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="delivery_aggregates")
    state = models.CharField(_("state"), max_length=20)
    count = models.PositiveIntegerField(_("messages"), default=0)
    first_sent_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    # Sent messages per minute since first_sent_at: {"0": 812, "1": 790, …} (the delivery curve).
    per_minute = models.JSONField(default=dict, blank=True)
    reduced_at = models.DateTimeField(_("reduced at"), auto_now=True)

    class Meta:
        verbose_name = _("delivery aggregate")
        verbose_name_plural = _("delivery aggregates")
        constraints = [models.UniqueConstraint(fields=["campaign", "state"], name="ops_deliveryaggregate_state")]

    def __str__(self):
        return f"{self.campaign_id}: {self.state} × {self.count}"
