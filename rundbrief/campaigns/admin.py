"""Campaigns in the admin: compose, preview, test mail, schedule/pause/resume/cancel, live progress.

The views are thin: every state change goes through the same functions as the
CLI and the API (campaigns/actions.py, delivery/actions.py).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, re_path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rundbrief.campaigns import actions
from rundbrief.campaigns.authoring import CampaignError, check_header_text, check_subject
from rundbrief.campaigns.models import Campaign
from rundbrief.campaigns.rendering import Rendered, render_campaign, with_example_links
from rundbrief.delivery.actions import TestSendError, send_test_message
from rundbrief.delivery.progress import campaign_progress

# Which state change each button may ask for, and from which states it makes sense to offer it.
TRANSITIONS = {
    "schedule": {Campaign.State.DRAFT},
    "pause": {Campaign.State.SCHEDULED, Campaign.State.SENDING},
    "resume": {Campaign.State.PAUSED},
    "cancel": {Campaign.State.SCHEDULED, Campaign.State.SENDING, Campaign.State.PAUSED},
}
# While a campaign can still change, the progress page reloads itself (no JavaScript needed).
LIVE_STATES = {Campaign.State.SCHEDULED, Campaign.State.SENDING, Campaign.State.PAUSED}
PROGRESS_REFRESH_SECONDS = 5


def run_transition(verb, campaign, actor):
    """Call the action for `verb`; a wrong state raises CampaignStateError, a ValueError with a readable message."""
    if verb == "schedule":
        return actions.schedule_campaign(campaign, actor=actor)
    if verb == "pause":
        return actions.pause_campaign(campaign, actor=actor)
    if verb == "resume":
        return actions.resume_campaign(campaign, actor=actor)
    return actions.cancel_campaign(campaign, actor=actor)


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = "__all__"  # noqa: DJ007 -- the admin form edits every field; the fieldsets pick what shows

    def _checked(self, check, *args):
        try:
            return check(*args)
        except CampaignError as exc:
            raise ValidationError(str(exc)) from None

    def clean_subject(self):
        return self._checked(check_subject, self.cleaned_data.get("subject", ""))

    def clean_from_name(self):
        return self._checked(check_header_text, self.cleaned_data.get("from_name", ""), "the from name", 100)

    def clean_name(self):
        return self._checked(check_header_text, self.cleaned_data.get("name", ""), "the name", 200)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("body_format") != Campaign.BodyFormat.DIGEST and not (cleaned.get("body") or "").strip():
            self.add_error("body", _("A Markdown or HTML newsletter needs a body."))
        return cleaned


class TestMessageForm(forms.Form):
    address = forms.EmailField(label=_("Send a test to"))


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ["name", "subject", "state", "body_format", "scheduled_at", "recipient_count", "links"]
    list_filter = ["state", "body_format", "topics"]
    search_fields = ["name", "subject"]
    filter_horizontal = ["topics"]
    change_form_template = "admin/campaigns/campaign/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "subject", "preheader", "topics"]}),
        (_("Content"), {"fields": ["body_format", "body", "digest_since"]}),
        (_("Sender"), {"fields": ["from_name", "from_email", "reply_to"]}),
        (
            _("Sending"),
            {"fields": ["scheduled_at", "state", "pause_reason", "recipient_count", "started_at", "finished_at"]},
        ),
        (_("History"), {"fields": ["history"]}),
    ]
    actions = ["schedule_selected", "pause_selected", "resume_selected", "cancel_selected"]
    status_fields = ["state", "pause_reason", "recipient_count", "started_at", "finished_at", "history"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            # Content is frozen once scheduled: what the workers send must not change under them.
            return [f for _name, opts in self.fieldsets for f in opts["fields"]]
        return self.status_fields

    def has_delete_permission(self, request, obj=None):
        # Only drafts: a sent campaign's delivery ledger is the record of who got what.
        return super().has_delete_permission(request, obj) and (obj is None or obj.is_editable)

    @admin.display(description=_("state changes"))
    def history(self, obj):
        """Who scheduled, paused, resumed or cancelled it (CampaignEvent): read-only, only the actions write it."""
        events = list(obj.events.all()) if obj is not None and obj.pk else []
        if not events:
            return "–"
        return format_html_join(
            "",
            "<div>{} · {} · {} {}</div>",
            (
                (
                    date_format(localtime(e.occurred_at), "SHORT_DATETIME_FORMAT"),
                    e.get_action_display(),
                    e.actor or "–",
                    e.detail,
                )
                for e in events
            ),
        )

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
            path("<int:pk>/preview/", view(self.preview_view), name="campaigns_campaign_preview"),
            path("<int:pk>/test/", view(self.test_message_view), name="campaigns_campaign_test"),
            path("<int:pk>/progress/", view(self.progress_view), name="campaigns_campaign_progress"),
            # Spelled out: a catch-all "<pk>/<verb>/" would swallow the admin's own "<pk>/change/".
            re_path(
                rf"^(?P<pk>\d+)/(?P<verb>{'|'.join(TRANSITIONS)})/$",
                view(self.transition_view),
                name="campaigns_campaign_transition",
            ),
        ] + super().get_urls()

    def _campaign(self, request, pk, change=False):
        campaign = get_object_or_404(Campaign, pk=pk)
        allowed = (
            self.has_change_permission(request, campaign) if change else self.has_view_permission(request, campaign)
        )
        if not allowed:
            raise PermissionDenied
        return campaign

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The send / pause / resume / cancel buttons also under the form, where editors look for them.
        campaign = self.get_object(request, object_id)
        if campaign is not None:
            extra_context = {
                **(extra_context or {}),
                "offered": [verb for verb, states in TRANSITIONS.items() if campaign.state in states],
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def _page(self, request, campaign, template, title, **context):
        return TemplateResponse(
            request,
            f"admin/campaigns/campaign/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": campaign,
                "campaign": campaign,
                "title": title,
                "has_change_permission": self.has_change_permission(request, campaign),
                "offered": [verb for verb, states in TRANSITIONS.items() if campaign.state in states],
                **context,
            },
        )

    def preview_view(self, request, pk):
        campaign = self._campaign(request, pk)
        if campaign.is_editable or not campaign.frozen_html:
            rendered = render_campaign(campaign)
        else:
            # After scheduling, show exactly what the workers send.
            rendered = Rendered(campaign.frozen_subject, campaign.frozen_html, campaign.frozen_text)
        return self._page(
            request,
            campaign,
            "preview.html",
            gettext("Preview: %(name)s") % {"name": campaign.name},
            rendered=with_example_links(rendered),
            test_form=TestMessageForm(),
        )

    def test_message_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        campaign = self._campaign(request, pk, change=True)
        form = TestMessageForm(request.POST)
        if form.is_valid():
            address = form.cleaned_data["address"]
            try:
                message_id = send_test_message(campaign, address)
            # Bad address, refused by the SMTP server, or no connection at all.
            except (ValidationError, TestSendError, OSError) as exc:
                messages.error(request, gettext("The test was not sent: %(error)s") % {"error": exc})
            else:
                messages.success(
                    request, gettext("Test sent to %(address)s (%(id)s).") % {"address": address, "id": message_id}
                )
        else:
            messages.error(request, " ".join(form.errors.get("address", [])))
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
        )

    def transition_view(self, request, pk, verb):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        campaign = self._campaign(request, pk, change=True)
        self._transition(request, verb, campaign)
        return redirect("admin:campaigns_campaign_progress", pk=campaign.pk)

    def _transition(self, request, verb, campaign):
        try:
            changed = run_transition(verb, campaign, request.user.get_username())
        except ValueError as exc:  # CampaignStateError: e.g. it finished while the page was open
            messages.error(request, f"{campaign}: {exc}")
        else:
            messages.success(request, f"{changed}: {changed.get_state_display()}")

    def _bulk(self, request, queryset, verb):
        for campaign in queryset:
            self._transition(request, verb, campaign)

    @admin.action(description=_("Schedule selected campaigns now"), permissions=["change"])
    def schedule_selected(self, request, queryset):
        self._bulk(request, queryset, "schedule")

    @admin.action(description=_("Pause selected campaigns"), permissions=["change"])
    def pause_selected(self, request, queryset):
        self._bulk(request, queryset, "pause")

    @admin.action(description=_("Resume selected campaigns"), permissions=["change"])
    def resume_selected(self, request, queryset):
        self._bulk(request, queryset, "resume")

    @admin.action(description=_("Cancel selected campaigns"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        self._bulk(request, queryset, "cancel")
