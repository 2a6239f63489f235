from django.urls import path
from django.utils.text import format_lazy
from django.utils.translation import pgettext_lazy

from rundbrief.campaigns import feeds, views

app_name = "campaigns"

# Translated routes: /newsletter/archiv/ in German, /en/newsletter/archive/ in English.
ARCHIVE = pgettext_lazy("URL path", "newsletter/archive/")

urlpatterns = [
    path(ARCHIVE, views.archive, name="archive"),
    path(format_lazy("{}feed/rss/", ARCHIVE), feeds.ArchiveFeed(), name="archive-feed-rss"),
    path(format_lazy("{}feed/atom/", ARCHIVE), feeds.ArchiveAtomFeed(), name="archive-feed-atom"),
    # One address per campaign, the same in every copy: it names the campaign, never a recipient.
    path("newsletter/web/<slug:token>/", views.web_version, name="web-version"),
]
