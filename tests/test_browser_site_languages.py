"""An English reader sees an English site in a real browser (Playwright + Debian's chromium), and the
language switch takes her to the same article in German and back."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.support.browser import chromium_page

pytestmark = [pytest.mark.browser]

SHOTS = Path("/tmp/shots-i18n")
ARTICLE = "/artikel/goldpreis-wochenausblick/"
GERMAN_CHROME = ["Kostenlose Beratung", "150.000 Kunden", "Sicherer Versand", "Produktneuheiten", "Impressum"]


@pytest.fixture
def demo_live(transactional_db, live_server, settings):
    settings.SITE_URL = live_server.url
    call_command("load-demo", stdout=io.StringIO())
    return live_server


def test_an_english_article_page_is_english_and_the_switch_goes_to_the_german_article_and_back(demo_live):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium_page() as page:
        page.goto(demo_live.url + "/en" + ARTICLE)
        assert page.locator("html").get_attribute("lang") == "en"
        chrome = " ".join(page.locator(s).inner_text() for s in (".topbar", ".masthead", ".footer", ".article .meta"))
        for german in GERMAN_CHROME:
            assert german not in chrome, german
        assert "Free consultation" in chrome and "150,000 customers" in chrome and "Financial news" in chrome
        assert page.locator(".article .date").inner_text() == "27 Nov 2026"
        assert page.locator(".article .time").inner_text() == "13:45"
        assert page.locator(".footer a", has_text="Privacy notice").get_attribute("href") == "/en/datenschutz/"
        page.screenshot(path=str(SHOTS / "article-en-1280.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(SHOTS / "article-en-390.png"), full_page=True)

        page.locator(".footer a[hreflang=de]").click()
        page.wait_for_url("**" + ARTICLE)
        assert page.url == demo_live.url + ARTICLE
        assert page.locator("html").get_attribute("lang") == "de"
        assert "Kostenlose Beratung" in page.locator(".topbar").inner_text()
        page.screenshot(path=str(SHOTS / "article-de-390.png"), full_page=True)

        page.locator(".footer a[hreflang=en]").click()
        page.wait_for_url("**/en" + ARTICLE)
        assert page.locator("html").get_attribute("lang") == "en"
        assert "Free consultation" in page.locator(".topbar").inner_text()
