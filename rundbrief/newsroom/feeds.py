"""RSS 2.0 and Atom feeds, site-wide and per topic (django.contrib.syndication)."""

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _

from rundbrief.newsroom.languages import translated
from rundbrief.newsroom.models import Article, SiteProfile, Topic

FEED_ITEMS = 20


class LatestArticlesFeed(Feed):
    def title(self, obj=None):
        return SiteProfile.load().site_name

    def link(self, obj=None):
        return settings.SITE_URL + reverse("newsroom:home")

    def description(self, obj=None):
        # The feed under /en/ speaks English where the editors wrote English (German otherwise).
        return translated(SiteProfile.load(), "tagline") or _("Latest articles")

    def items(self, obj=None):
        return Article.objects.published().prefetch_related("topics")[:FEED_ITEMS]

    def item_title(self, item):
        return item.title

    def item_description(self, item):
        return item.lead or item.body_html

    def item_link(self, item):
        return item.absolute_url()

    def item_guid(self, item):
        return item.absolute_url()

    item_guid_is_permalink = True

    def item_pubdate(self, item):
        return item.published_at

    def item_updateddate(self, item):
        return item.updated_at

    def item_author_name(self, item):
        return item.author_name or None

    def item_categories(self, item):
        return [translated(topic, "name") for topic in item.topics.all()]


class LatestArticlesAtomFeed(LatestArticlesFeed):
    feed_type = Atom1Feed
    subtitle = LatestArticlesFeed.description


class TopicFeed(LatestArticlesFeed):
    def get_object(self, request, slug):
        return get_object_or_404(Topic, slug=slug)

    def title(self, obj=None):
        return f"{SiteProfile.load().site_name}: {translated(obj, 'name')}"

    def link(self, obj=None):
        return settings.SITE_URL + obj.get_absolute_url()

    def description(self, obj=None):
        return translated(obj, "description") or translated(obj, "name")

    def items(self, obj=None):
        return Article.objects.published().filter(topics=obj).prefetch_related("topics")[:FEED_ITEMS]


class TopicAtomFeed(TopicFeed):
    feed_type = Atom1Feed
    subtitle = TopicFeed.description
