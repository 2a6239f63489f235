"""RSS 2.0 and Atom feeds, site-wide and per topic, and sitemap.xml, all with absolute SITE_URL links."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture
def news(make_article, topics, settings):
    settings.SITE_URL = "https://news.musterhaus.example"
    make_article(title="Neue Münze", slug="neue-muenze", topics=[topics["produktneuheiten"]], lead="Kurz.")
    make_article(title="Zinsen", slug="zinsen", topics=[topics["finanznachrichten"]])
    make_article(title="Entwurf", slug="entwurf", status="draft")
    make_article(title="Morgen", slug="morgen", published_at=timezone.now() + dt.timedelta(days=1))


def test_site_rss_feed_lists_published_articles_with_absolute_links(client, news):
    response = client.get("/feed/rss/")
    assert response["Content-Type"].startswith("application/rss+xml")
    channel = ET.fromstring(response.content).find("channel")
    items = channel.findall("item")
    assert [i.findtext("title") for i in items] == ["Neue Münze", "Zinsen"]
    assert items[0].findtext("link") == "https://news.musterhaus.example/artikel/neue-muenze/"
    assert items[0].findtext("category") == "Produktneuheiten"
    assert items[0].findtext("pubDate")


def test_site_atom_feed_is_valid_atom(client, news):
    response = client.get("/feed/atom/")
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["Neue Münze", "Zinsen"]
    assert entries[0].find(f"{ATOM}link").get("href") == "https://news.musterhaus.example/artikel/neue-muenze/"
    assert entries[0].findtext(f"{ATOM}updated")


def test_topic_feeds_contain_only_that_topic(client, news):
    rss = ET.fromstring(client.get("/themen/finanznachrichten/feed/rss/").content)
    assert [i.findtext("title") for i in rss.iter("item")] == ["Zinsen"]
    atom = ET.fromstring(client.get("/themen/produktneuheiten/feed/atom/").content)
    assert [e.findtext(f"{ATOM}title") for e in atom.iter(f"{ATOM}entry")] == ["Neue Münze"]
    assert client.get("/themen/unbekannt/feed/rss/").status_code == 404


def test_sitemap_lists_published_articles_and_topics_with_site_url(client, news):
    tree = ET.fromstring(client.get("/sitemap.xml").content)
    locations = [loc.text for loc in tree.iter(f"{SITEMAP}loc")]
    assert "https://news.musterhaus.example/artikel/neue-muenze/" in locations
    assert "https://news.musterhaus.example/themen/finanznachrichten/" in locations
    assert not any("entwurf" in loc or "morgen" in loc for loc in locations)


XHTML = "{http://www.w3.org/1999/xhtml}"


def test_sitemap_names_english_pages_only_where_english_text_exists(client, news, topics):
    from rundbrief.newsroom.models import Page

    Page.objects.create(slug="versand", title="Versand", body="Versichert.", title_en="Shipping", body_en="Insured.")
    Page.objects.create(slug="agb", title="AGB", body="Nur deutsch.")
    tree = ET.fromstring(client.get("/sitemap.xml").content)
    locations = [loc.text for loc in tree.iter(f"{SITEMAP}loc")]
    site = "https://news.musterhaus.example"
    assert f"{site}/en/versand/" in locations and f"{site}/versand/" in locations
    assert f"{site}/agb/" in locations and f"{site}/en/agb/" not in locations
    assert f"{site}/en/themen/finanznachrichten/" in locations
    # Articles are German only (docs/decisions.md, "Site texts in English"): no /en/ duplicate.
    assert not any(loc.startswith(f"{site}/en/artikel/") for loc in locations)
    # Each translated address names its alternates for search engines (hreflang).
    shipping = next(url for url in tree.iter(f"{SITEMAP}url") if url.findtext(f"{SITEMAP}loc") == f"{site}/versand/")
    alternates = {link.get("hreflang"): link.get("href") for link in shipping.iter(f"{XHTML}link")}
    assert alternates == {"de": f"{site}/versand/", "en": f"{site}/en/versand/", "x-default": f"{site}/versand/"}


def test_english_topic_feed_speaks_english(client, news, topics):
    topic = topics["finanznachrichten"]
    topic.name_en, topic.description_en = "Financial news", "Markets and rates."
    topic.save()
    channel = ET.fromstring(client.get("/en/themen/finanznachrichten/feed/rss/").content).find("channel")
    assert channel.findtext("title").endswith(": Financial news")
    assert channel.findtext("description") == "Markets and rates."
    assert channel.find("item").findtext("category") == "Financial news"
    german = ET.fromstring(client.get("/themen/finanznachrichten/feed/rss/").content).find("channel")
    assert german.findtext("title").endswith(": Finanznachrichten")
