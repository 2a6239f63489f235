"""The welcome mail in the admin: its text per language, switched on or off, with a preview.

Who got it is on the subscriber's page (delivery/admin.py); sending is delivery/welcome.py.
Registered by importing it from admin.py.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rundbrief.campaigns.authoring import CampaignError, check_subject
from rundbrief.campaigns.models import WelcomeMail
from rundbrief.campaigns.rendering import render_welcome, with_example_links
from rundbrief.newsroom.models import Topic


class WelcomeMailForm(forms.ModelForm):
    class Meta:
        model = WelcomeMail
        fields = ["language", "enabled", "subject", "preheader", "body"]

    def clean_subject(self):
        try:
            return check_subject(self.cleaned_data.get("subject", ""))
        except CampaignError as exc:
            raise ValidationError(str(exc)) from None


@admin.register(WelcomeMail)
class WelcomeMailAdmin(admin.ModelAdmin):
    """The welcome mail's text per language; who got it is on the subscriber's page (delivery/admin.py)."""

    form = WelcomeMailForm
    list_display = ["language", "enabled", "subject", "updated_at", "preview_link"]
    list_editable = ["enabled"]

    @admin.display(description=_("preview"))
    def preview_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:campaigns_welcomemail_preview", args=[obj.pk]), _("preview")
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.preview_view)
        return [path("<int:pk>/preview/", view, name="campaigns_welcomemail_preview")] + super().get_urls()

    def preview_view(self, request, pk):
        welcome = get_object_or_404(WelcomeMail, pk=pk)
        if not self.has_view_permission(request, welcome):
            raise PermissionDenied
        # As a reader of every topic would get it: the footer names her topics.
        topic_names = list(Topic.objects.order_by("menu_position", "name").values_list("name", flat=True))
        rendered = render_welcome(welcome, language=welcome.language, topic_names=topic_names)
        return TemplateResponse(
            request,
            "admin/campaigns/welcomemail/preview.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": welcome,
                "welcome": welcome,
                "title": gettext("Preview: %(name)s") % {"name": welcome},
                "rendered": with_example_links(rendered),
            },
        )
