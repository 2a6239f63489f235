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
