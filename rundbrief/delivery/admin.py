"""Sending campaigns in the admin: a test mail and live progress; the welcome mail on the subscriber's page.

The campaign admin (campaigns/admin.py) composes, previews and pauses; this subclass adds what
needs the delivery ledger and registers itself in the campaign admin's place. Delivery sits above
campaigns, so the import goes this way only; the app comes after campaigns in INSTALLED_APPS, so
its admin module loads second (docs/architecture.md).
"""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rundbrief.audience.admin import SubscriberAdmin
from rundbrief.audience.models import Subscriber
from rundbrief.campaigns.admin import CampaignAdmin
from rundbrief.campaigns.audience import audience_count
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery import testsend
from rundbrief.delivery.progress import campaign_progress

State = Campaign.State
# While a campaign can still change, the progress page reloads itself (no JavaScript needed).
LIVE_STATES = {State.SCHEDULED, State.SENDING, State.PAUSED}
PROGRESS_REFRESH_SECONDS = 5


class TestMessageForm(forms.Form):
    addresses = forms.CharField(
        label=_("Send a test to"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 50}),
        help_text=_("One or more addresses of the editorial team, separated by commas or lines."),
    )

    def clean_addresses(self):
        return testsend.parse_addresses(self.cleaned_data["addresses"])


class SendingCampaignAdmin(CampaignAdmin):
    @admin.display(description=_("links"))
    def links(self, obj):
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            reverse("admin:campaigns_campaign_preview", args=[obj.pk]),
            _("preview"),
            reverse("admin:campaigns_campaign_progress", args=[obj.pk]),
            _("progress"),
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/test/", view(self.test_message_view), name="campaigns_campaign_test"),
            path("<int:pk>/progress/", view(self.progress_view), name="campaigns_campaign_progress"),
        ] + super().get_urls()

    def after_transition_url(self, campaign):
        return reverse("admin:campaigns_campaign_progress", args=[campaign.pk])

    def preview_context(self, request, campaign):
        saved = testsend.saved_test_addresses(request.user)
        return {"test_form": TestMessageForm(initial={"addresses": "\n".join(saved)})}

    def test_message_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        campaign = self._campaign(request, pk, change=True)
        form = TestMessageForm(request.POST)
        if not form.is_valid():
            # Nothing is sent when one address is wrong: the editor fixes the list and sends again.
            messages.error(request, " ".join(form.errors.get("addresses", [])))
            return redirect("admin:campaigns_campaign_preview", pk=campaign.pk)
        addresses = form.cleaned_data["addresses"]
        testsend.save_test_addresses(request.user, addresses)
        try:
            message_ids = testsend.send_test_messages(campaign, addresses, actor=request.user.get_username())
        # Refused by the SMTP server, or no connection at all.
        except (testsend.TestSendError, OSError) as exc:
            messages.error(request, gettext("The test was not sent: %(error)s") % {"error": exc})
        else:
            messages.success(
                request,
                gettext("Test sent to %(addresses)s (%(ids)s).")
                % {"addresses": ", ".join(addresses), "ids": ", ".join(message_ids)},
            )
        return redirect("admin:campaigns_campaign_preview", pk=campaign.pk)

    def progress_view(self, request, pk):
        campaign = self._campaign(request, pk)
        progress = campaign_progress(campaign)
        skipped = progress.get("skipped_withdrawn", 0) + progress.get("skipped_suppressed", 0)
        return self._page(
            request,
            campaign,
            "progress.html",
            gettext("Progress: %(name)s") % {"name": campaign.name},
            progress=progress,
            skipped=skipped,
            refresh_seconds=PROGRESS_REFRESH_SECONDS if campaign.state in LIVE_STATES else None,
            audience_now=audience_count(campaign) if not campaign.started_at else None,
        )


admin.site.unregister(Campaign)
admin.site.register(Campaign, SendingCampaignAdmin)


class WelcomeSubscriberAdmin(SubscriberAdmin):
    """The subscriber admin with her welcome mail: when it was sent, or why not. The welcome queue is
    delivery's (delivery/welcome.py), so the column is added here, as sending is to campaigns."""

    list_display = [*SubscriberAdmin.list_display[:-1], "welcome_sent", SubscriberAdmin.list_display[-1]]
    readonly_fields = [*SubscriberAdmin.readonly_fields, "welcome_sent"]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("welcome_delivery")

    @admin.display(description=_("welcome sent at"))
    def welcome_sent(self, obj):
        row = getattr(obj, "welcome_delivery", None)
        if row is None:
            return "–"
        if row.sent_at:
            return date_format(localtime(row.sent_at), "SHORT_DATETIME_FORMAT")
        return row.get_state_display()


admin.site.unregister(Subscriber)
admin.site.register(Subscriber, WelcomeSubscriberAdmin)
