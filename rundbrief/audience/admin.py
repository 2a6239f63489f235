from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from rundbrief.audience import actions, import_admin, listexport, queries
from rundbrief.audience.attribute_forms import SubscriberAttributesForm, attribute_fields
from rundbrief.audience.attributes import set_attributes
from rundbrief.audience.models import ConsentEvent, ConsentText, Subscriber, Suppression
from rundbrief.audience.proof import proof_for_address
from rundbrief.newsroom.admin import TopicAdmin
from rundbrief.newsroom.models import Topic


@admin.register(ConsentText)
class ConsentTextAdmin(admin.ModelAdmin):
    list_display = ["language", "version", "short_hash", "created_at"]
    list_filter = ["language"]
    readonly_fields = ["version", "sha256", "created_at"]
    fields = ["language", "text", "version", "sha256", "created_at"]

    @admin.display(description="SHA-256")
    def short_hash(self, obj):
        return obj.sha256[:16] + "…"

    def save_model(self, request, obj, form, change):
        # Immutable: readers agreed to the exact old text, so an edit is saved as a new version.
        obj.pk = None
        obj._state.adding = True
        obj.version = None
        obj.created_at = timezone.now()
        obj.save()
        if change:
            messages.info(request, _("Saved as a new version; the previous text is kept as proof."))

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "status", "language", "requested_at", "confirmed_at", "withdrawn_at", "proof_link"]
    list_filter = ["status", "language"]
    search_fields = ["email"]
    readonly_fields = ["email", "status", "language", "requested_at", "confirmed_at", "withdrawn_at", "proof_link"]
    actions = ["export_selected_csv", "erase_selected"]
    change_list_template = "admin/audience/subscriber/change_list.html"  # adds the import link

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(None, {"fields": self.readonly_fields})]
        if names := [name for name, _field in attribute_fields()]:
            fieldsets.append((_("Attributes"), {"fields": names}))
        return fieldsets

    def get_form(self, request, obj=None, **kwargs):
        # One form field per attribute definition, filled from the subscriber's JSON column.
        kwargs["form"] = type("SubscriberAttributesForm", (SubscriberAttributesForm,), dict(attribute_fields()))
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        # Everything else on the page is read-only; the attributes go through their action.
        set_attributes(obj, form.attribute_values, source=f"admin:{request.user.get_username()}")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # deletion is erasure, with its ledger event: use the action

    def get_urls(self):
        proof = self.admin_site.admin_view(self.proof_view)
        upload = self.admin_site.admin_view(lambda request: import_admin.import_view(self, request))
        return [
            path("<int:pk>/proof/", proof, name="audience_subscriber_proof"),
            path("import/", upload, name="audience_subscriber_import"),
        ] + super().get_urls()

    @admin.display(description=_("proof of consent"))
    def proof_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:audience_subscriber_proof", args=[obj.pk]), _("proof"))

    def proof_view(self, request, pk):
        subscriber = get_object_or_404(Subscriber, pk=pk)
        # The proof shows the address, its history, IP prefixes and user agents: only for those who may
        # see subscribers (the "view subscriber" permission), not for every staff user (a newsroom editor).
        if not self.has_view_permission(request, subscriber):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "subscriber": subscriber,
            "proof": proof_for_address(subscriber.email),
            "title": _("Proof of consent"),
        }
        return render(request, "admin/audience/proof.html", context)

    @admin.action(description=_("Export selected as CSV (withdrawn ones are left out)"), permissions=["view"])
    def export_selected_csv(self, request, queryset):
        """The import-ready CSV of the selection (all pages with "select all"), streamed as it is read."""
        counts = listexport.ExportCounts()
        lines = listexport.csv_lines(listexport.active_rows(queryset, counts))
        actor = f"admin:{request.user.get_username()}"

        def logged(lines):
            # Logged when the download ends, with the rows actually sent (a closed connection ends it early).
            complete = False
            try:
                yield from lines
                complete = True
            finally:
                listexport.log_export(
                    actor=actor, target="download", status="active", topic=None, counts=counts, complete=complete
                )

        name = f"{str(_('subscribers')).lower()}-{timezone.localtime():%Y-%m-%d-%H%M}.csv"
        response = StreamingHttpResponse(logged(lines), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    @admin.action(description=_("Erase selected subscribers (GDPR Art. 17)"), permissions=["change"])
    def erase_selected(self, request, queryset):
        for subscriber in list(queryset):
            try:
                actions.erase_subscriber(subscriber, source=f"admin:{request.user.get_username()}")
            except actions.ErasureNotFlushed as exc:  # committed; only the write-ahead log lags behind
                self.message_user(request, str(exc), level=messages.WARNING)
                return
        self.message_user(request, _("Erased; the addresses stay suppressed as keyed hashes."))


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = ["pk", "kind", "occurred_at", "subject_hash", "source", "message_id"]
    list_filter = ["kind"]
    search_fields = ["subject_hash", "message_id"]


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdmin):
    list_display = ["address_hash", "reason", "created_at"]
    list_filter = ["reason"]


class TopicWithSubscribersAdmin(TopicAdmin):
    """The newsroom's topic admin with each topic's confirmed subscribers: the newsroom sits below the
    audience (docs/architecture.md, "Which way imports go"), so the audience extends it here."""

    list_display = [*TopicAdmin.list_display, "confirmed_subscribers"]

    def get_queryset(self, request):
        return queries.topics_with_confirmed_counts(super().get_queryset(request))

    @admin.display(description=_("confirmed subscribers"), ordering="confirmed_subscribers")
    def confirmed_subscribers(self, topic):
        return number_format(topic.confirmed_subscribers, force_grouping=True)  # German 90.000, English 90,000


admin.site.unregister(Topic)
admin.site.register(Topic, TopicWithSubscribersAdmin)

from rundbrief.audience import segment_admin  # noqa: E402, F401 -- registers attributes and segments
