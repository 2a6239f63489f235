from django.urls import path, register_converter

from rundbrief.newsroom import feeds, views
from rundbrief.newsroom.models import Page


class ExistingPageSlug:
    """Matches only the slug of an existing page. A plain <slug:> as the last pattern would make every
    unknown /word valid with a slash added, and CommonMiddleware would answer 301 instead of 404."""

    regex = "[-a-zA-Z0-9_]+"

    def to_python(self, value):
        """The Page itself, so the view does not look it up a second time."""
        page = Page.objects.filter(slug=value).first()
        if page is None:
            raise ValueError(value)  # no match: resolving goes on, and ends in the 404 page
        return page

    def to_url(self, value):
        return getattr(value, "slug", value)


register_converter(ExistingPageSlug, "page")

app_name = "newsroom"

urlpatterns = [
    path("", views.home, name="home"),
    path("artikel/<slug:slug>/", views.article, name="article"),
    path("themen/<slug:slug>/", views.topic, name="topic"),
    path("suche/", views.search, name="search"),
    path("vorschau/<int:pk>/", views.preview, name="preview"),
    path("feed/rss/", feeds.LatestArticlesFeed(), name="feed-rss"),
    path("feed/atom/", feeds.LatestArticlesAtomFeed(), name="feed-atom"),
    path("themen/<slug:slug>/feed/rss/", feeds.TopicFeed(), name="topic-feed-rss"),
    path("themen/<slug:slug>/feed/atom/", feeds.TopicAtomFeed(), name="topic-feed-atom"),
    # Last in the last URLconf: a page's address never hides one the site already uses.
    path("<page:page>/", views.page, name="page"),
]
