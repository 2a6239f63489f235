"""Recurring digests in the admin: list and edit (topics, schedule, subject, active), with the
issues so far read-only below (a campaign, or skipped and why); pause and resume as list actions.

Thin, like the campaign admin: saving, pausing, resuming and deleting call the actions in
campaigns/digests.py that `rundbrief digest` calls. Registered by importing it from admin.py.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rundbrief.campaigns.authoring import CampaignError
from rundbrief.campaigns.digests import (
    check_subject_template,
    create_digest,
    delete_digest,
    make_schedule,
    pause_digest,
    resume_digest,
    update_digest,
)
from rundbrief.campaigns.models import Digest, DigestIssue
from rundbrief.campaigns.recurrence import MONTHLY, WEEKLY


class DigestForm(forms.ModelForm):
    class Meta:
        model = Digest
        fields = ["name", "subject", "topics", "rule", "weekday", "day_of_month", "local_time", "active"]
        widgets = {"local_time": forms.TimeInput(format="%H:%M")}  # minutes: the schedule has no seconds

    def clean_subject(self):
        try:
            return check_subject_template(self.cleaned_data.get("subject", ""))
        except CampaignError as exc:
            raise ValidationError(str(exc)) from None

    def clean(self):
        cleaned = super().clean()
        rule = cleaned.get("rule")
        if rule == WEEKLY and cleaned.get("weekday") is None:
            self.add_error("weekday", _("A weekly digest needs a weekday."))
        elif rule == MONTHLY and cleaned.get("day_of_month") not in range(1, 29):
            self.add_error("day_of_month", _("Choose a day from 1 to 28: every month has these days."))
        elif rule and cleaned.get("local_time"):
            try:
                make_schedule(rule, cleaned["local_time"], cleaned.get("weekday"), cleaned.get("day_of_month"))
            except CampaignError as exc:
                raise ValidationError(str(exc)) from None
        return cleaned


class DigestIssueInline(admin.TabularInline):
    """What came of each due time; written only by the worker's chore."""

    model = DigestIssue
    fields = ["due_at", "outcome", "campaign_link", "reason", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("issues so far")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("campaign"))
    def campaign_link(self, issue):
        if issue.campaign is None:
            return "–"
        url = reverse("admin:campaigns_campaign_change", args=[issue.campaign.pk])
        return format_html('<a href="{}">{}</a> ({})', url, issue.campaign.name, issue.campaign.get_state_display())


@admin.register(Digest)
class DigestAdmin(admin.ModelAdmin):
    form = DigestForm
    list_display = ["name", "schedule_text", "topic_names", "active", "next_due_at", "last_issue"]
    # No filter column: a site has a handful of digests, and at 1280 px the list needs the width.
    search_fields = ["name", "subject"]
    filter_horizontal = ["topics"]
    readonly_fields = ["next_due_at", "period_start", "created_at"]
    inlines = [DigestIssueInline]
    actions = ["pause_selected", "resume_selected"]

    def get_fieldsets(self, request, obj=None):
        zone = timezone.get_default_timezone_name()
        return [
            (None, {"fields": ["name", "subject", "topics"]}),
            (
                _("Recurrence"),
                {
                    "fields": ["rule", "weekday", "day_of_month", "local_time", "active"],
                    "description": gettext(
                        "Times in the site's time zone (%(zone)s). Weekly digests need the weekday, "
                        "monthly ones the day of the month. An issue without new articles is skipped."
                    )
                    % {"zone": zone},
                },
            ),
            (_("Status"), {"fields": self.readonly_fields}),
        ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("topics")

    @admin.display(description=_("repeats"))
    def schedule_text(self, digest):
        at = digest.local_time.strftime("%H:%M")
        if digest.rule == WEEKLY:
            return f"{digest.get_weekday_display()} {at}"
        if digest.rule == MONTHLY:
            return gettext("monthly on the %(day)s., %(at)s") % {"day": digest.day_of_month, "at": at}
        return gettext("daily %(at)s") % {"at": at}

    @admin.display(description=_("topics"))
    def topic_names(self, digest):
        return ", ".join(topic.name for topic in digest.topics.all())

    @admin.display(description=_("last issue"))
    def last_issue(self, digest):
        issue = digest.issues.select_related("campaign").first()
        return f"{issue.get_outcome_display()}" if issue else "–"

    def save_model(self, request, obj, form, change):
        fields = {
            "name": form.cleaned_data["name"],
            "subject": form.cleaned_data["subject"],
            "topics": list(form.cleaned_data["topics"]),
            "rule": form.cleaned_data["rule"],
            "at": form.cleaned_data["local_time"],
            "weekday": form.cleaned_data.get("weekday"),
            "day_of_month": form.cleaned_data.get("day_of_month"),
        }
        actor = request.user.get_username()
        if change:
            was_active = Digest.objects.filter(pk=obj.pk, active=True).exists()
            digest = update_digest(obj, actor=actor, **fields)
            if was_active and not form.cleaned_data["active"]:
                digest = pause_digest(digest, actor=actor)
            elif form.cleaned_data["active"] and not was_active:
                digest = resume_digest(digest, actor=actor)
        else:
            digest = create_digest(actor=actor, active=form.cleaned_data["active"], **fields)
        # The admin goes on with `obj` (the redirect, the log entry): make it the saved row.
        obj.pk = digest.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # Not form.save_m2m(): the action has set the topics. The issues inline saves nothing
        # (read-only), but the admin's change message reads its formset's saved lists.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        delete_digest(obj, actor=request.user.get_username())

    def delete_queryset(self, request, queryset):
        for digest in queryset:
            delete_digest(digest, actor=request.user.get_username())

    @admin.action(description=_("Pause selected digests"), permissions=["change"])
    def pause_selected(self, request, queryset):
        for digest in queryset:
            pause_digest(digest, actor=request.user.get_username())
        messages.success(request, gettext("Paused: %(count)d") % {"count": len(queryset)})

    @admin.action(description=_("Resume selected digests"), permissions=["change"])
    def resume_selected(self, request, queryset):
        for digest in queryset.filter(active=False):
            resume_digest(digest, actor=request.user.get_username())
        messages.success(request, gettext("Active: %(count)d") % {"count": queryset.count()})
