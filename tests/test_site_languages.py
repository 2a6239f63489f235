"""The site and the service mail in the reader's language: English texts beside the German ones,
German where a text has no English version, paths under /en/, the language switch, English dates."""

import json
import re

import pytest
from django.core.management import call_command
from django.utils import translation

from rundbrief.audience import links
from rundbrief.audience.models import Subscriber
from rundbrief.newsroom.languages import translated
from rundbrief.newsroom.models import Page, SiteProfile, Topic
from tests.support.smtp import path_of

pytestmark = pytest.mark.django_db

GERMAN_HEADER = (
    "Kostenlose Beratung",
    "150.000 Kunden",
    "Sicherer Versand",
    "Produktneuheiten",
    "fiktives Unternehmen",
)


@pytest.fixture
def demo(demo_site):
    # Its articles are dated from the files; one of them is enough for the article page.
    return demo_site


def html_of(client, path):
    response = client.get(path)
    assert response.status_code == 200, path
    return response.content.decode()


def switch_link(html):
    """The footer's link to the other language (there are two languages: one link)."""
    return re.search(r'<a href="([^"]*)" hreflang="(de|en)"', html).group(1)


def test_an_english_text_is_shown_in_english_and_an_empty_one_falls_back_to_german():
    topic = Topic(name="Sonderangebote", slug="sonderangebote", name_en="Special offers", description="Aktionen")
    topic.description_en = "   "  # blank counts as missing
    assert translated(topic, "name", "en") == "Special offers"
    assert translated(topic, "name", "de") == "Sonderangebote"
    assert translated(topic, "description", "en") == "Aktionen"
    with translation.override("en"):
        assert topic.localised.name == "Special offers" and topic.localised.description == "Aktionen"
    with translation.override("de"):
        assert topic.localised.name == "Sonderangebote"
    assert topic.in_language("en").name == "Special offers"


def test_english_pages_show_the_english_profile_topics_and_footer(client, demo):
    html = html_of(client, "/en/")
    for english in ("Free consultation", "150,000 customers", "Secure shipping", "Product news", "Special offers"):
        assert english in html
    assert "A fictitious company for the Rundbrief demo." in html
    assert 'content="Market reports and news on gold and silver"' in html
    for german in GERMAN_HEADER:
        assert german not in html, german
    german = html_of(client, "/")
    assert "Kostenlose Beratung" in german and "150.000 Kunden" in german and "Free consultation" not in german


def test_english_topic_and_standing_pages_show_their_english_texts(client, demo):
    topic = html_of(client, "/en/themen/produktneuheiten/")
    assert '<h1 class="page-title">Product news</h1>' in topic
    assert "New coins, bars and editions in our range." in topic
    imprint = html_of(client, "/en/impressum/")
    assert '<h1 class="page-title">Legal notice</h1>' in imprint and "Managing director" in imprint
    assert "Vertreten durch" not in imprint
    assert '<h1 class="page-title">Impressum</h1>' in html_of(client, "/impressum/")


def test_a_page_without_english_text_shows_the_german_one_on_the_english_site(client, demo):
    Page.objects.create(slug="versand", title="Versand", body="Wir versenden versichert.")
    html = html_of(client, "/en/versand/")
    assert '<h1 class="page-title">Versand</h1>' in html and "Wir versenden versichert." in html


def test_english_dates_are_day_first_and_german_ones_use_dots(client, demo):
    page = Page.objects.get(slug="impressum")
    Page.objects.filter(pk=page.pk).update(updated_at="2026-11-27T12:45:00Z")
    assert "27 November 2026</time>" in html_of(client, "/en/impressum/")
    assert "27. November 2026</time>" in html_of(client, "/impressum/")
    english = html_of(client, "/en/")
    assert re.search(r"<time datetime=\"[^\"]+\">\d{1,2} [A-Z][a-z]{2} \d{4}</time>", english)
    assert not re.search(r">\d{1,2}/\d{1,2}/\d{4}<", english), "no US dates"


def test_the_footer_and_the_newsletter_box_keep_the_english_prefix(client, demo):
    html = html_of(client, "/en/artikel/goldpreis-wochenausblick/")
    assert 'href="/en/impressum/"' in html and 'href="/en/datenschutz/"' in html
    assert 'href="/impressum/"' not in html and 'href="/datenschutz/"' not in html
    german = html_of(client, "/artikel/goldpreis-wochenausblick/")
    assert 'href="/impressum/"' in german and 'href="/datenschutz/"' in german


def test_an_external_legal_link_stays_as_the_editor_typed_it(client, demo):
    SiteProfile.objects.filter(pk=1).update(privacy_url="https://legal.example/privacy")
    assert 'href="https://legal.example/privacy"' in html_of(client, "/en/")


@pytest.mark.parametrize(
    ("german", "english"),
    [
        ("/artikel/goldpreis-wochenausblick/", "/en/artikel/goldpreis-wochenausblick/"),
        ("/themen/finanznachrichten/", "/en/themen/finanznachrichten/"),
        ("/suche/?q=gold+silber", "/en/suche/?q=gold+silber"),
        ("/impressum/", "/en/impressum/"),
        ("/newsletter/archiv/", "/en/newsletter/archive/"),
        ("/", "/en/"),
    ],
)
def test_the_language_switch_leads_to_the_same_page_in_the_other_language(client, demo, german, english):
    assert switch_link(html_of(client, german)) == english
    assert switch_link(html_of(client, english)) == german


def test_the_language_switch_of_a_missing_page_leads_home(client, demo):
    response = client.get("/en/gibt-es-nicht/")
    assert response.status_code == 404
    assert switch_link(response.content.decode()) == "/"


def test_the_confirmation_mail_of_an_english_sign_up_names_english_topics_and_links_under_en(demo, sign_up, smtp_inbox):
    sign_up("jane@example.org", prefix="/en", language="en", topics=["produktneuheiten", "sonderangebote"])
    mail = smtp_inbox.mails[-1]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Product news, Special offers" in body
        assert "Produktneuheiten" not in body and "Sonderangebote" not in body
        assert "http://news.musterhaus.example/en/datenschutz/" in body
        assert "http://news.musterhaus.example/en/impressum/" in body
    site_links = [u for u in smtp_inbox.links(mail) if u.startswith("http://news.musterhaus.example/")]
    paths = [path_of(u) for u in site_links if u.rstrip("/") != "http://news.musterhaus.example"]
    assert paths and all(p.startswith("/en/") for p in paths), paths


def test_the_confirmation_mail_of_a_german_sign_up_stays_german(demo, sign_up, smtp_inbox):
    sign_up("erika@example.de", topics=["produktneuheiten"])
    text = smtp_inbox.mails[-1].get_body(("plain",)).get_content()
    assert "Themen: Produktneuheiten" in text and "http://news.musterhaus.example/datenschutz/" in text


def test_an_english_subscribers_links_are_under_en_and_open_english_pages(client, demo):
    jane = Subscriber.objects.create(email="jane@example.org", language="en", status=Subscriber.Status.CONFIRMED)
    jane.subscriptions.create(topic=Topic.objects.get(slug="produktneuheiten"))
    unsubscribe, preferences = links.recipient_links(jane.public_id, jane.language)
    confirm = links.confirm_url(jane.public_id, "nonce", jane.language)
    export = links.export_url(jane.public_id, jane.language)
    for url in (unsubscribe, preferences, confirm, export):
        assert path_of(url).startswith("/en/"), url
    page = html_of(client, path_of(preferences))
    assert '<html lang="en">' in page and "Product news" in page and "Produktneuheiten" not in page
    assert '<html lang="en">' in html_of(client, path_of(unsubscribe))

    erika = Subscriber.objects.create(email="erika@example.de", language="de", status=Subscriber.Status.CONFIRMED)
    german = html_of(client, path_of(links.preferences_url(erika.public_id, erika.language)))
    assert '<html lang="de">' in german and "Produktneuheiten" in german


def test_the_data_export_is_mailed_in_her_language_with_labels_in_her_language(
    client, demo, smtp_inbox, django_capture_on_commit_callbacks
):
    jane = Subscriber.objects.create(email="jane@example.org", language="en", status=Subscriber.Status.CONFIRMED)
    jane.subscriptions.create(topic=Topic.objects.get(slug="sonderangebote"))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(path_of(links.preferences_url(jane.public_id, "en")), {"action": "export"})
    mail = smtp_inbox.mails[-1]
    text = mail.get_body(("plain",)).get_content()
    assert mail["Subject"] == "Your data export" and "http://news.musterhaus.example/en/datenschutz/" in text
    download = next(u for u in smtp_inbox.links(mail) if "/d/" in u)
    assert path_of(download).startswith("/en/d/")
    data = json.loads(client.get(path_of(download)).content)
    assert data["subscriptions"] == ["sonderangebote"] and data["profile"]["status"] == "confirmed"
    assert data["labels"] == {"status": "confirmed", "topics": {"sonderangebote": "Special offers"}}

    erika = Subscriber.objects.create(email="erika@example.de", language="de", status=Subscriber.Status.CONFIRMED)
    erika.subscriptions.create(topic=Topic.objects.get(slug="sonderangebote"))
    german = json.loads(client.get(path_of(links.export_url(erika.public_id, "de"))).content)
    assert german["labels"] == {"status": "bestätigt", "topics": {"sonderangebote": "Sonderangebote"}}


def test_the_demo_brings_english_texts_and_loading_it_again_keeps_an_editors_change(demo):
    profile = SiteProfile.load()
    assert profile.hotline_label_en == "Free consultation"
    assert {t.slug: t.name_en for t in Topic.objects.all()} == {
        "produktneuheiten": "Product news",
        "finanznachrichten": "Financial news",
        "sonderangebote": "Special offers",
    }
    assert Page.objects.get(slug="datenschutz").title_en == "Privacy notice"
    SiteProfile.objects.filter(pk=1).update(hotline_label_en="Call us free")
    Topic.objects.filter(slug="sonderangebote").update(name_en="Deals")
    call_command("load-demo", stdout=open("/dev/null", "w"))
    assert SiteProfile.load().hotline_label_en == "Call us free"
    assert Topic.objects.get(slug="sonderangebote").name_en == "Deals"


def test_the_admin_groups_the_english_fields_in_a_fieldset_of_their_own(admin_client, demo):
    for path, field in [
        ("/admin/newsroom/topic/add/", "name_en"),
        ("/admin/newsroom/page/add/", "body_en"),
        ("/admin/newsroom/siteprofile/1/change/", "trust_badges_en"),
    ]:
        html = admin_client.get(path).content.decode()
        english = html.index("<h2")  # German fields come first, without a heading
        assert f'name="{field}"' in html[english:] and "Englisch" in html[english:], path
