"""Admin: the bounce log, operator alerts, and bounce and complaint rates per campaign.

The rates live on a proxy of Campaign (models.CampaignRates) so that
campaigns/admin.py, which another part of the code base owns, stays as it is.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from rundbrief.audience.admin import ReadOnlyAdmin
from rundbrief.bounces import actions
from rundbrief.bounces.models import BounceEvent, CampaignRates, OperatorAlert
from rundbrief.delivery.models import Delivery


@admin.register(BounceEvent)
class BounceEventAdmin(admin.ModelAdmin):
    list_display = [
        "received_at",
        "reason",
        "kind",
        "status",
        "recipient",
        "campaign",
        "outcome",
        "source",
        "short_diagnosis",
    ]
    list_filter = ["reason", "kind", "outcome", "source", "campaign"]
    search_fields = ["status", "reason", "diagnosis"]
    date_hierarchy = "received_at"
    list_select_related = ["campaign"]
    readonly_fields = [f.name for f in BounceEvent._meta.fields if f.name != "raw_message"]
    exclude = ["raw_message"]
    actions = ["lift_suppression"]

    @admin.display(description=_("diagnosis"))
    def short_diagnosis(self, event):
        return event.diagnosis[:100]

    @admin.action(description=_("Lift suppression"))
    def lift_suppression(self, request, queryset):
        """The same action as `rundbrief bounces review --lift`: only suppressions the review lists are lifted."""
        addresses = {e.recipient for e in queryset if e.recipient}
        lifted = sum(
            actions.lift_bounce_suppression(a, actor=f"admin:{request.user.get_username()}") for a in addresses
        )
        self.message_user(request, ngettext("%d suppression lifted.", "%d suppressions lifted.", lifted) % lifted)
        if len(addresses) > lifted:
            skipped = len(addresses) - lifted
            self.message_user(
                request,
                ngettext(
                    "%d address left suppressed: its mailbox is gone, or it complained or was erased.",
                    "%d addresses left suppressed: their mailbox is gone, or they complained or were erased.",
                    skipped,
                )
                % skipped,
                messages.WARNING,
            )

    def has_add_permission(self, request):
        return False  # events come from mail and SMTP replies, not from typing

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(OperatorAlert)
class OperatorAlertAdmin(admin.ModelAdmin):
    list_display = ["last_seen", "key", "status", "message", "count", "first_seen", "acknowledged"]
    list_filter = ["acknowledged", "status"]
    readonly_fields = ["status", "message", "first_seen", "last_seen", "count", "acknowledged", "acknowledged_at"]
    actions = ["acknowledge"]

    @admin.action(description=_("Acknowledge selected alerts"))
    def acknowledge(self, request, queryset):
        count = actions.acknowledge_alerts(queryset)
        self.message_user(request, ngettext("%d alert acknowledged.", "%d alerts acknowledged.", count) % count)

    def has_add_permission(self, request):
        return False


def _count(**filters):
    return Coalesce(
        Subquery(
            BounceEvent.objects.filter(campaign=OuterRef("pk"), **filters)
            .exclude(outcome=BounceEvent.Outcome.UNVERIFIED)
            .order_by()
            .values("campaign")
            .annotate(n=Count("pk"))
            .values("n"),
            output_field=IntegerField(),
        ),
        0,
    )


@admin.register(CampaignRates)
class CampaignRatesAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "state",
        "sent",
        "hard_bounces",
        "soft_bounces",
        "complaints",
        "bounce_rate",
        "complaint_rate",
    ]
    list_filter = ["state"]
    search_fields = ["name"]

    def get_queryset(self, request):
        sent = Subquery(
            Delivery.objects.filter(campaign=OuterRef("pk"), sent_at__isnull=False)
            .order_by()
            .values("campaign")
            .annotate(n=Count("pk"))
            .values("n"),
            output_field=IntegerField(),
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_sent=Coalesce(sent, 0),
                n_hard=_count(kind=BounceEvent.Kind.HARD),
                n_soft=_count(kind=BounceEvent.Kind.SOFT),
                n_complaints=_count(kind=BounceEvent.Kind.COMPLAINT),
            )
        )

    def changelist_view(self, request, extra_context=None):
        # Gmail's guidance: keep the complaint rate below 0.1 %; above 0.3 % mail is rejected.
        limit = settings.BOUNCE_COMPLAINT_WARN_RATE
        flagged = [
            c.name
            for c in self.get_queryset(request).filter(n_sent__gt=0).exclude(state="draft")
            if c.n_complaints / c.n_sent > limit
        ]
        if flagged:
            text = _("Complaint rate above %(limit)s in: %(names)s")
            self.message_user(
                request, text % {"limit": f"{limit:.1%}", "names": ", ".join(flagged[:10])}, messages.WARNING
            )
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("sent"), ordering="n_sent")
    def sent(self, campaign):
        return campaign.n_sent

    @admin.display(description=_("hard bounces"), ordering="n_hard")
    def hard_bounces(self, campaign):
        return campaign.n_hard

    @admin.display(description=_("soft bounces"), ordering="n_soft")
    def soft_bounces(self, campaign):
        return campaign.n_soft

    @admin.display(description=_("complaints"), ordering="n_complaints")
    def complaints(self, campaign):
        return campaign.n_complaints

    @admin.display(description=_("bounce rate"))
    def bounce_rate(self, campaign):
        return f"{(campaign.n_hard + campaign.n_soft) / campaign.n_sent:.2%}" if campaign.n_sent else "–"

    @admin.display(description=_("complaint rate"))
    def complaint_rate(self, campaign):
        if not campaign.n_sent:
            return "–"
        rate = campaign.n_complaints / campaign.n_sent
        if rate > settings.BOUNCE_COMPLAINT_WARN_RATE:
            return format_html('<strong style="color:#b00">⚠ {}</strong>', f"{rate:.2%}")
        return f"{rate:.2%}"
