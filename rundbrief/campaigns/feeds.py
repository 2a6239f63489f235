"""RSS 2.0 and Atom feeds of the newsletter archive (django.contrib.syndication, as newsroom/feeds.py)."""

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _

from rundbrief.campaigns.archive import archived_campaigns
from rundbrief.campaigns.webversion import web_version_url
from rundbrief.newsroom.models import SiteProfile

FEED_ITEMS = 20


class ArchiveFeed(Feed):
    def title(self, obj=None):
        return f"{SiteProfile.load().site_name}: {_('Newsletter archive')}"

    def link(self, obj=None):
        return settings.SITE_URL + reverse("campaigns:archive")

    def description(self, obj=None):
        return _("The newsletters we have sent, newest first.")

    def items(self, obj=None):
        return archived_campaigns()[:FEED_ITEMS]

    def item_title(self, item):
        return item.frozen_subject

    def item_description(self, item):
        return item.preheader

    def item_link(self, item):
        return web_version_url(item)

    def item_guid(self, item):
        return web_version_url(item)

    item_guid_is_permalink = True

    def item_pubdate(self, item):
        return item.started_at


class ArchiveAtomFeed(ArchiveFeed):
    feed_type = Atom1Feed
    subtitle = ArchiveFeed.description
