from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from rundbrief.newsroom import actions
from rundbrief.newsroom.models import Article, Page, SiteProfile, Topic


class GermanSlugs:
    """Prepopulated slugs with umlauts spelt out (rundbrief/newsroom/slugs.py); loaded after Django's urlify.js."""

    class Media:
        js = ["newsroom/admin/urlify_de.js"]


class EnglishFieldset:
    """The model's English fields (`*_en`) in a fieldset of their own below the German ones
    (docs/decisions.md, "Site texts in English")."""

    def get_fieldsets(self, request, obj=None):
        fields = self.get_fields(request, obj)
        help_text = _("For readers of the English pages (/en/). An empty field shows the German text.")
        return [
            (None, {"fields": [f for f in fields if not f.endswith("_en")]}),
            (_("English"), {"fields": [f for f in fields if f.endswith("_en")], "description": help_text}),
        ]


@admin.register(Topic)
class TopicAdmin(GermanSlugs, EnglishFieldset, admin.ModelAdmin):
    list_display = ["name", "name_en", "slug", "menu_position"]
    list_editable = ["menu_position"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Article)
class ArticleAdmin(GermanSlugs, admin.ModelAdmin):
    list_display = ["title", "status", "published_at", "author_name", "preview_link"]
    list_filter = ["status", "topics"]
    search_fields = ["title", "lead", "body"]
    date_hierarchy = "published_at"
    prepopulated_fields = {"slug": ["title"]}
    filter_horizontal = ["topics"]
    readonly_fields = ["preview_link", "updated_at"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "lead", "body"]}),
        (_("Publication"), {"fields": ["status", "published_at", "author_name", "topics", "updated_at"]}),
        (_("Preview"), {"fields": ["preview_link"]}),
    ]
    actions = ["publish", "unpublish"]

    @admin.display(description=_("preview"))
    def preview_link(self, obj):
        if not obj.pk:
            return _("Save the article once to preview it.")
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>',
            reverse("newsroom:preview", args=[obj.pk]),
            _("Open preview"),
        )

    def save_model(self, request, obj, form, change):
        actions.save_article(obj)

    @admin.action(description=_("Publish selected articles"))
    def publish(self, request, queryset):
        actions.publish_articles(queryset)

    @admin.action(description=_("Return selected articles to draft"))
    def unpublish(self, request, queryset):
        actions.unpublish_articles(queryset)


@admin.register(SiteProfile)
class SiteProfileAdmin(EnglishFieldset, admin.ModelAdmin):
    def has_add_permission(self, request):
        return not SiteProfile.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.site_header = _("Rundbrief administration")
admin.site.site_title = _("Rundbrief")


@admin.register(Page)
class PageAdmin(GermanSlugs, EnglishFieldset, admin.ModelAdmin):
    list_display = ["title", "slug", "updated_at", "view_link"]
    search_fields = ["title", "body"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["view_link", "updated_at"]

    @admin.display(description=_("on the site"))
    def view_link(self, obj):
        if not obj.pk:
            return "–"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>', obj.get_absolute_url(), obj.get_absolute_url()
        )
