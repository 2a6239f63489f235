"""sitemap.xml with absolute URLs built from SITE_URL, not from the request's Host header."""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sitemaps import Sitemap

from rundbrief.newsroom.models import Article, Page, Topic


class SiteUrlSitemap(Sitemap):
    def get_domain(self, site=None):
        return urlsplit(settings.SITE_URL).netloc

    def get_protocol(self, protocol=None):
        return urlsplit(settings.SITE_URL).scheme


class ArticleSitemap(SiteUrlSitemap):
    changefreq = "weekly"

    def items(self):
        return Article.objects.published().order_by("-published_at")

    def lastmod(self, item):
        return item.updated_at


class TopicSitemap(SiteUrlSitemap):
    changefreq = "daily"

    def items(self):
        return Topic.objects.all()


class PageSitemap(SiteUrlSitemap):
    changefreq = "monthly"

    def items(self):
        return Page.objects.all()

    def lastmod(self, item):
        return item.updated_at


sitemaps = {"articles": ArticleSitemap, "topics": TopicSitemap, "pages": PageSitemap}
