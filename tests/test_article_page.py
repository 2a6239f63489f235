"""The article page: header, date and time, sub-headings, further reading, sign-up box, metadata."""

import datetime as dt
import json
import re

import pytest
from django.utils import timezone

from rundbrief.newsroom.models import Article, SiteProfile
from tests.support.fixtures import BERLIN

pytestmark = pytest.mark.django_db


@pytest.fixture
def gold_report(make_article, topics):
    SiteProfile.objects.update_or_create(
        pk=1,
        defaults={
            "site_name": "Musterhaus Edelmetalle",
            "hotline_label": "Kostenlose Beratung",
            "hotline_number": "0800 123 45 67",
            "trust_badges": "150.000 Kunden\nSicherer Versand",
        },
    )
    return make_article(
        title="Gold steigt auf Rekordhoch",
        slug="gold-rekord",
        lead="Der Goldpreis hat eine neue Marke erreicht.",
        body="Einleitung.\n\n## Was den Preis treibt\n\nText.\n\n## Ausblick\n\nMehr Text.",
        author_name="Redaktion",
        published_at=dt.datetime(2025, 4, 7, 13, 45, tzinfo=BERLIN),
        topics=[topics["finanznachrichten"]],
    )


def test_article_page_shows_hotline_badges_brand_and_topic_menu(client, gold_report):
    html = client.get("/artikel/gold-rekord/").content.decode()
    assert "Kostenlose Beratung" in html
    assert 'href="tel:08001234567"' in html
    assert "<li>150.000 Kunden</li>" in html and "<li>Sicherer Versand</li>" in html
    assert 'class="brand"' in html and "Musterhaus Edelmetalle" in html
    for name in ("Produktneuheiten", "Finanznachrichten", "Sonderangebote"):
        assert f">{name}</a>" in html


def test_article_shows_german_date_and_time_in_site_time_zone(client, gold_report):
    html = client.get("/artikel/gold-rekord/").content.decode()
    assert '<span class="date">07.04.2025</span>' in html
    assert '<span class="time">13:45 Uhr</span>' in html
    assert 'datetime="2025-04-07T13:45:00+02:00"' in html


def test_article_date_follows_english_locale_under_en_prefix(client, gold_report):
    """Day before month and a 24-hour clock (rundbrief/formats/en), not Django's US "04/07/2025 1:45 p.m."."""
    html = client.get("/en/artikel/gold-rekord/").content.decode()
    assert '<span class="date">7 Apr 2025</span>' in html
    assert '<span class="time">13:45</span>' in html
    assert "Further reading" in html


def test_markdown_subheadings_become_h2_in_order(client, gold_report):
    html = client.get("/artikel/gold-rekord/").content.decode()
    assert re.findall(r"<h2>(.*?)</h2>", html) == ["Was den Preis treibt", "Ausblick"]
    assert "<h1>Gold steigt auf Rekordhoch</h1>" in html


def test_further_reading_ranks_by_shared_topics_then_recency_and_never_lists_itself(client, make_article, topics):
    p, f, s = topics["produktneuheiten"], topics["finanznachrichten"], topics["sonderangebote"]
    now = timezone.now()
    current = make_article(title="Aktuell", slug="aktuell", topics=[p, f, s], published_at=now - dt.timedelta(hours=1))
    one_new = make_article(title="Ein Thema neu", slug="ein-neu", topics=[p], published_at=now - dt.timedelta(days=1))
    one_old = make_article(title="Ein Thema alt", slug="ein-alt", topics=[s], published_at=now - dt.timedelta(days=9))
    two = make_article(title="Zwei Themen", slug="zwei", topics=[p, f], published_at=now - dt.timedelta(days=30))
    three = make_article(title="Drei Themen", slug="drei", topics=[p, f, s], published_at=now - dt.timedelta(days=60))
    make_article(title="Unverwandt", slug="unverwandt", topics=[], published_at=now - dt.timedelta(days=2))
    make_article(title="Entwurf", slug="entwurf", topics=[p, f, s], status=Article.Status.DRAFT)
    make_article(title="Zukunft", slug="zukunft", topics=[p, f, s], published_at=now + dt.timedelta(days=1))
    extra = [
        make_article(title=f"Alt {i}", slug=f"alt-{i}", topics=[f], published_at=now - dt.timedelta(days=100 + i))
        for i in range(3)
    ]

    assert list(current.related()) == [three, two, one_new, one_old, extra[0]]
    html = client.get("/artikel/aktuell/").content.decode()
    block = html.split('class="further-reading"')[1].split("</section>")[0]
    assert "Wissenswertes zum Thema" in block
    assert re.findall(r'<a href="/artikel/([^/]+)/">', block) == ["drei", "zwei", "ein-neu", "ein-alt", "alt-0"]


def test_article_with_publication_time_in_future_is_invisible_until_then(client, make_article):
    article = make_article(slug="morgen", published_at=timezone.now() + dt.timedelta(minutes=5))
    assert client.get("/artikel/morgen/").status_code == 404
    assert "morgen" not in client.get("/").content.decode()
    Article.objects.filter(pk=article.pk).update(published_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get("/artikel/morgen/").status_code == 200


def test_draft_is_hidden_from_readers_and_shown_to_editors_in_preview(client, admin_client, make_article):
    draft = make_article(slug="entwurf", status=Article.Status.DRAFT, title="Noch geheim")
    assert client.get("/artikel/entwurf/").status_code == 404
    assert client.get(f"/vorschau/{draft.pk}/").status_code == 302  # to the admin login
    response = admin_client.get(f"/vorschau/{draft.pk}/")
    assert response.status_code == 200
    assert "Noch geheim" in response.content.decode()
    assert response["X-Robots-Tag"] == "noindex"


def test_article_carries_canonical_feeds_open_graph_and_json_ld(client, gold_report, settings):
    settings.SITE_URL = "https://news.musterhaus.example"
    html = client.get("/artikel/gold-rekord/").content.decode()
    assert '<link rel="canonical" href="https://news.musterhaus.example/artikel/gold-rekord/">' in html
    assert 'type="application/rss+xml"' in html and 'href="https://news.musterhaus.example/feed/rss/"' in html
    assert 'type="application/atom+xml"' in html
    assert '<meta property="og:title" content="Gold steigt auf Rekordhoch">' in html
    assert '<meta property="og:url" content="https://news.musterhaus.example/artikel/gold-rekord/">' in html
    payload = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1)
    data = json.loads(payload)
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == "Gold steigt auf Rekordhoch"
    assert data["datePublished"] == "2025-04-07T13:45:00+02:00"
    assert dt.datetime.fromisoformat(data["datePublished"]) == dt.datetime(2025, 4, 7, 13, 45, tzinfo=BERLIN)


def test_json_ld_cannot_be_closed_early_by_a_title(client, make_article):
    make_article(slug="boese", title="</script><script>alert(1)</script>")
    html = client.get("/artikel/boese/").content.decode()
    assert "<script>alert(1)" not in html
    payload = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1)
    assert json.loads(payload)["headline"] == "</script><script>alert(1)</script>"


def test_article_page_has_a_newsletter_box(client, gold_report):
    html = client.get("/artikel/gold-rekord/").content.decode()
    box = html.split('class="newsletter-box"')[1].split("</section>")[0]
    assert 'type="email"' in box and "Abschicken" in box
