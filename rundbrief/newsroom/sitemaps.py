"""sitemap.xml with absolute URLs built from SITE_URL, not from the request's Host header.

Topics and pages are listed in every language they exist in, each with its hreflang alternates
(Google's "Tell Google about localized versions": one <xhtml:link> per language and x-default), so
search engines show an English reader /en/. Articles are written in German only (docs/decisions.md,
"Site texts in English"): their /en/ address would be the same text in English chrome, a duplicate,
so only the German one is listed.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sitemaps import Sitemap

from rundbrief.newsroom.languages import GERMAN
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


class TranslatedSitemap(SiteUrlSitemap):
    i18n = True
    alternates = True
    x_default = True


class TopicSitemap(TranslatedSitemap):
    changefreq = "daily"

    def items(self):
        return Topic.objects.all()


class PageSitemap(TranslatedSitemap):
    changefreq = "monthly"

    def items(self):
        return Page.objects.all()

    def get_languages_for_item(self, item):
        # A page without an English title has no English text: its /en/ address is not listed.
        return [code for code, _name in settings.LANGUAGES if code == GERMAN or getattr(item, f"title_{code}", "")]

    def lastmod(self, item):
        return item.updated_at


sitemaps = {"articles": ArticleSitemap, "topics": TopicSitemap, "pages": PageSitemap}
