"""Home and topic pages (search: test_search.py); error pages in the site's layout; hostile query strings."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_home_lists_latest_published_articles_newest_first_paginated(client, make_article, settings):
    settings.ARTICLES_PER_PAGE = 3
    articles = [make_article(title=f"Bericht Nummer {i}") for i in range(7)]  # newest first by construction
    first = client.get("/").content.decode()
    assert [a.title in first for a in articles[:3]] == [True] * 3
    assert articles[3].title not in first
    assert "Seite 1 von 3" in first
    third = client.get("/?page=3").content.decode()
    assert articles[6].title in third and articles[0].title not in third


@pytest.mark.parametrize("page", ["0", "-1", "abc", "99999999999999999999", "1e9", "%00", "1' OR '1'='1"])
def test_absurd_page_numbers_fall_back_to_a_real_page(client, make_article, page):
    make_article(title="Einziger Bericht")
    response = client.get("/", {"page": page})
    assert response.status_code == 200
    assert "Einziger Bericht" in response.content.decode()


def test_topic_page_lists_only_that_topics_articles(client, make_article, topics):
    make_article(title="Neue Münze", topics=[topics["produktneuheiten"]])
    make_article(title="Zinsentscheid", topics=[topics["finanznachrichten"]])
    html = client.get("/themen/produktneuheiten/").content.decode()
    assert "Neue Münze" in html and "Zinsentscheid" not in html
    assert client.get("/themen/gibt-es-nicht/").status_code == 404


def test_unknown_page_shows_404_in_site_layout(client, demo_site):
    response = client.get("/gibt/es/nicht/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Seite nicht gefunden" in html and "Kostenlose Beratung" in html


@pytest.mark.parametrize("prefix", ["/fr/", "/xx/artikel/goldpreis-wochenausblick/", "/de-at/", "/EN/"])
def test_unknown_language_prefix_is_a_404_not_a_500(client, demo_site, prefix):
    assert client.get(prefix).status_code == 404


def test_english_pages_are_served_under_the_en_prefix(client, demo_site):
    html = client.get("/en/").content.decode()
    assert '<html lang="en">' in html and "Market news" in html
    assert '<html lang="de">' in client.get("/").content.decode()


def test_server_error_shows_500_page_in_site_layout(demo_site, settings):
    settings.ROOT_URLCONF = "tests.urls_failing"
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    assert "Etwas ist schiefgegangen" in response.content.decode()


def test_the_500_page_needs_no_database(demo_site, settings, monkeypatch, django_assert_num_queries):
    """With the database down, read-only or its disk full, the error page must still render."""
    from rundbrief.newsroom.models import SiteProfile

    settings.ROOT_URLCONF = "tests.urls_failing"
    client = Client(raise_request_exception=False)

    def unavailable(*args, **kwargs):
        raise RuntimeError("the database is read-only")

    monkeypatch.setattr(SiteProfile, "load", unavailable)
    with django_assert_num_queries(0):
        response = client.get("/boom/")
    assert response.status_code == 500 and "Etwas ist schiefgegangen" in response.content.decode()


def test_footer_links_to_the_other_language_by_its_own_name(client, demo_site):
    assert '<a href="/en/" hreflang="en" lang="en">English</a>' in client.get("/").content.decode()
    assert '<a href="/" hreflang="de" lang="de">Deutsch</a>' in client.get("/en/").content.decode()
