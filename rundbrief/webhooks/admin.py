"""Webhooks in the admin: endpoints (the secret shown once after adding), each one's delivery log with
replay, and "send test event". Every change goes through webhooks/actions.py."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from rundbrief.webhooks import actions, events
from rundbrief.webhooks.models import Attempt, Endpoint, WebhookMessage
from rundbrief.webhooks.sender import send_test_event


class EndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        label=_("events"),
        choices=[(name, f"{name}: {text}") for name, text in events.EVENT_TYPES.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("None ticked: every event, including types added in later versions."),
    )

    class Meta:
        model = Endpoint
        fields = ["url", "description", "events", "active"]

    def clean_url(self):
        try:
            return actions.check_url(self.cleaned_data["url"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["url", "description", "events_shown", "active", "failing_since", "disabled_reason", "log_link"]
    list_filter = ["active"]
    actions = ["send_test"]

    def get_fields(self, request, obj=None):
        fields = ["url", "description", "events", "active"]
        return fields if obj is None else fields + ["disabled_reason", "failing_since", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["disabled_reason", "failing_since", "created_at"]

    @admin.display(description=_("events"))
    def events_shown(self, obj):
        return ", ".join(obj.events) if obj.events else _("all")

    @admin.display(description=_("delivery log"))
    def log_link(self, obj):
        url = reverse("admin:webhooks_webhookmessage_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("delivery log"))

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            actions.change_endpoint(
                obj, url=data["url"], events=data["events"], description=data["description"], active=data["active"]
            )
            return
        created = actions.add_endpoint(data["url"], events=data["events"], description=data["description"])
        if not data["active"]:
            actions.change_endpoint(
                created, url=created.url, events=created.events, description=created.description, active=False
            )
        obj.pk, obj.secret, obj._state.adding = created.pk, created.secret, False

    def response_add(self, request, obj, post_url_continue=None):
        # The one time the secret is shown: the receiver needs it to verify signatures.
        context = {
            **self.admin_site.each_context(request),
            "title": _("Webhook endpoint added"),
            "endpoint": obj,
            "opts": self.model._meta,
        }
        return render(request, "admin/webhooks/endpoint/secret.html", context)

    def delete_model(self, request, obj):
        actions.remove_endpoint(obj.pk)

    def delete_queryset(self, request, queryset):
        for pk in list(queryset.values_list("pk", flat=True)):
            actions.remove_endpoint(pk)

    @admin.action(description=_("Send a test event to the selected endpoints"), permissions=["change"])
    def send_test(self, request, queryset):
        for endpoint in queryset:
            answer = send_test_event(endpoint)
            level = messages.SUCCESS if answer.succeeded else messages.ERROR
            self.message_user(
                request, _("%(url)s answered: %(answer)s") % {"url": endpoint.url, "answer": answer}, level
            )


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = ["at", "status_code", "error", "duration_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookMessage)
class WebhookMessageAdmin(admin.ModelAdmin):
    list_display = [
        "msg_id",
        "endpoint",
        "event_type",
        "state",
        "attempts",
        "created_at",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["state", "event_type", "endpoint"]
    fields = [
        "msg_id",
        "endpoint",
        "event_type",
        "state",
        "attempts",
        "created_at",
        "next_attempt_at",
        "delivered_at",
        "payload",
    ]
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["replay"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the log is a record: read-only, replayed by the action

    def has_delete_permission(self, request, obj=None):
        return False

    def has_replay_permission(self, request):
        return request.user.has_perm("webhooks.change_endpoint")

    @admin.action(description=_("Replay: send the selected messages again"), permissions=["replay"])
    def replay(self, request, queryset):
        replayed = sum(actions.replay_message(message) for message in queryset)
        self.message_user(request, _("%(count)d message(s) queued again.") % {"count": replayed}, messages.SUCCESS)
