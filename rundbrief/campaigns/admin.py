"""Campaigns in the admin: compose, preview, schedule (through a confirmation page), unschedule,
pause/resume/cancel, duplicate.

The views are thin: every state change goes through the same functions as the CLI and the API
(campaigns/actions.py). The test mail and live progress are added by delivery/admin.py, which
subclasses this admin and registers itself in its place: campaigns sit below delivery and do not
import it (docs/architecture.md).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, re_path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rundbrief.campaigns.actions import (
    cancel_campaign,
    duplicate_campaign,
    pause_campaign,
    resume_campaign,
    unschedule_campaign,
)
from rundbrief.campaigns.archive import set_shown_in_archive
from rundbrief.campaigns.audience import audience_count
from rundbrief.campaigns.authoring import CampaignError, check_header_text, check_subject
from rundbrief.campaigns.models import Campaign
from rundbrief.campaigns.rendering import Rendered, render_campaign, with_example_links
from rundbrief.campaigns.scheduling import ScheduleForm, schedule_from_form
from rundbrief.campaigns.webversion import web_version_url

State = Campaign.State


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
        if "body" not in self.fields:
            return cleaned  # a sent campaign: its content is read-only, only the archive switch is left
        if cleaned.get("body_format") != Campaign.BodyFormat.DIGEST and not (cleaned.get("body") or "").strip():
            self.add_error("body", _("A Markdown or HTML newsletter needs a body."))
        return cleaned


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ["name", "subject", "state", "body_format", "scheduled_at", "recipient_count", "links"]
    list_filter = ["state", "body_format", "topics"]
    search_fields = ["name", "subject"]
    filter_horizontal = ["topics"]
    change_form_template = "admin/campaigns/campaign/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "subject", "preheader", "topics", "segment"]}),
        (_("Content"), {"fields": ["body_format", "body", "digest_since", "digest_until"]}),
        (_("Sender"), {"fields": ["from_name", "from_email", "reply_to"]}),
        (
            _("Sending"),
            {"fields": ["scheduled_at", "state", "pause_reason", "recipient_count", "started_at", "finished_at"]},
        ),
        (_("Web version and archive"), {"fields": ["show_in_archive", "web_version"]}),
        (_("History"), {"fields": ["history"]}),
    ]
    actions = ["pause_selected", "resume_selected", "cancel_selected"]
    # Which state change each button may ask for: verb → (the states from which it makes sense to offer it,
    # the action). In the order the buttons show. Scheduling is not among them: it goes through its
    # confirmation page (schedule_view), never one click.
    transitions = {
        "unschedule": ({State.SCHEDULED}, unschedule_campaign),
        "pause": ({State.SCHEDULED, State.SENDING}, pause_campaign),
        "resume": ({State.PAUSED}, resume_campaign),
        "cancel": ({State.SCHEDULED, State.SENDING, State.PAUSED}, cancel_campaign),
    }
    # scheduled_at too: a time is set only on the confirmation page, so saving a time cannot look
    # like scheduling while the campaign stays a draft.
    status_fields = [
        "scheduled_at",
        "state",
        "pause_reason",
        "recipient_count",
        "started_at",
        "finished_at",
        "web_version",
        "history",
    ]
    # Not content: an editor may keep a sent newsletter out of the public archive at any time.
    always_editable = {"show_in_archive"}

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            # Content is frozen once scheduled: what the workers send must not change under them.
            return [f for _name, opts in self.fieldsets for f in opts["fields"] if f not in self.always_editable]
        return self.status_fields

    def save_model(self, request, obj, form, change):
        if change and not obj.is_editable:
            # Only the archive switch is left to edit; it goes through its action, which notes who.
            set_shown_in_archive(obj, form.cleaned_data["show_in_archive"], actor=request.user.get_username())
            return
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if change and not form.instance.is_editable:
            return  # nothing else is editable; the topics are frozen with the content
        super().save_related(request, form, formsets, change)

    @admin.display(description=_("web version"))
    def web_version(self, obj):
        if obj is None or not obj.pk:
            return "–"
        url = web_version_url(obj)
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

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
            '<a href="{}">{}</a>', reverse("admin:campaigns_campaign_preview", args=[obj.pk]), _("preview")
        )

    def offered(self, campaign):
        """The state changes whose buttons make sense for the campaign as it is."""
        return [verb for verb, (states, _action) in self.transitions.items() if campaign.state in states]

    def run_transition(self, verb, campaign, actor):
        """Call the action for `verb`; a wrong state raises CampaignStateError, a ValueError with a readable message."""
        _states, action = self.transitions[verb]
        return action(campaign, actor=actor)

    def after_transition_url(self, campaign):
        """Where a button's POST leads back to."""
        return reverse("admin:campaigns_campaign_preview", args=[campaign.pk])

    def preview_context(self, request, campaign):
        """Extra context of the preview page (delivery/admin.py adds the test-mail form)."""
        return {}

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/preview/", view(self.preview_view), name="campaigns_campaign_preview"),
            path("<int:pk>/schedule/", view(self.schedule_view), name="campaigns_campaign_schedule"),
            path("<int:pk>/duplicate/", view(self.duplicate_view), name="campaigns_campaign_duplicate"),
            # Spelled out: a catch-all "<pk>/<verb>/" would swallow the admin's own "<pk>/change/".
            re_path(
                rf"^(?P<pk>\d+)/(?P<verb>{'|'.join(self.transitions)})/$",
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
                "offered": self.offered(campaign),
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
                "offered": self.offered(campaign),
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
            **self.preview_context(request, campaign),
        )

    def schedule_view(self, request, pk):
        """The confirmation page of "Schedule" and "Send now": what goes out, to how many, when."""
        campaign = self._campaign(request, pk, change=True)
        if campaign.state != State.DRAFT:
            messages.error(
                request,
                gettext("Only a draft can be scheduled; this campaign is %(state)s.")
                % {"state": campaign.get_state_display()},
            )
            return redirect(self.after_transition_url(campaign))
        form = ScheduleForm(request.POST or None, initial={"when": request.GET.get("when", "later")})
        if request.method == "POST" and form.is_valid():
            try:
                campaign = schedule_from_form(campaign, form, request.user.get_username())
            except ValueError as exc:  # CampaignStateError: scheduled meanwhile, or no topics
                messages.error(request, f"{campaign}: {exc}")
            else:
                when = date_format(localtime(campaign.scheduled_at), "SHORT_DATETIME_FORMAT")
                messages.success(
                    request, gettext("%(name)s: scheduled for %(when)s") % {"name": campaign.name, "when": when}
                )
                return redirect(self.after_transition_url(campaign))
        rendered = render_campaign(campaign)
        return self._page(
            request,
            campaign,
            "schedule.html",
            gettext("Schedule: %(name)s") % {"name": campaign.name},
            form=form,
            rendered=rendered,
            recipients=audience_count(campaign),
            topics=list(campaign.topics.all()),
            time_zone=timezone.get_current_timezone_name(),
        )

    def duplicate_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        campaign = self._campaign(request, pk)
        if not self.has_add_permission(request):
            raise PermissionDenied
        copy = duplicate_campaign(campaign, actor=request.user.get_username())
        messages.success(request, gettext("Copied into a new draft: %(name)s") % {"name": copy.name})
        return redirect("admin:campaigns_campaign_change", copy.pk)

    def transition_view(self, request, pk, verb):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        campaign = self._campaign(request, pk, change=True)
        self._transition(request, verb, campaign)
        return redirect(self.after_transition_url(campaign))

    def _transition(self, request, verb, campaign):
        try:
            changed = self.run_transition(verb, campaign, request.user.get_username())
        except ValueError as exc:  # CampaignStateError: e.g. it finished while the page was open
            messages.error(request, f"{campaign}: {exc}")
        else:
            messages.success(request, f"{changed}: {changed.get_state_display()}")

    def _bulk(self, request, queryset, verb):
        for campaign in queryset:
            self._transition(request, verb, campaign)

    @admin.action(description=_("Pause selected campaigns"), permissions=["change"])
    def pause_selected(self, request, queryset):
        self._bulk(request, queryset, "pause")

    @admin.action(description=_("Resume selected campaigns"), permissions=["change"])
    def resume_selected(self, request, queryset):
        self._bulk(request, queryset, "resume")

    @admin.action(description=_("Cancel selected campaigns"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        self._bulk(request, queryset, "cancel")


# The recurring digests' and the welcome mail's admins register themselves on import (modules of
# their own, for length).
from rundbrief.campaigns import digest_admin, welcome_admin  # noqa: E402, F401
