"""A reader searches the demo from the header's search box, in German and in English, in a real
browser (Playwright + Debian's chromium): results with marked words, and the page for no result.
Screenshots at 1280 and 390 px go to /tmp/shots-search/ for a person to look at."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.support.browser import chromium_page

pytestmark = [pytest.mark.browser]
SHOTS = Path("/tmp/shots-search")


@pytest.fixture
def demo_live(transactional_db, live_server, settings):
    settings.SITE_URL = live_server.url
    call_command("load-demo", stdout=io.StringIO())
    return live_server


def search_from_the_header(page, words):
    page.locator("#search-q").fill(words)
    page.locator("#search-q").press("Enter")
    page.wait_for_url("**/suche/?q=*")


def shoot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_reader_searches_in_german_and_english_sees_marked_words_and_a_page_for_no_result(demo_live):
    with chromium_page() as page:
        page.goto(demo_live.url + "/")
        search_from_the_header(page, "Goldpreis Wochenausblick")
        first = page.locator(".search-hit").first
        assert first.locator("h2").inner_text().startswith("Goldpreis im Wochenausblick")
        assert first.locator("h2 mark").all_inner_texts() == ["Goldpreis", "Wochenausblick"]
        assert page.locator("#search-q").input_value() == "Goldpreis Wochenausblick"
        shoot(page, "de-1280-results")

        search_from_the_header(page, "muenze")
        assert page.locator(".search-hit").count() == 4
        marked = set(page.locator(".search-hit .snippet mark").all_inner_texts())
        assert marked <= {"Münze", "Münzen"} and marked
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shoot(page, "de-390-results")

        search_from_the_header(page, "Gold Rhodiumbarren")
        empty = page.locator(".search-empty")
        assert "Kein Artikel enthält alle Wörter von „Gold Rhodiumbarren“." in empty.inner_text()
        assert "weniger Wörtern" in empty.inner_text() and page.locator(".search-hit").count() == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shoot(page, "de-390-no-result")

        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(demo_live.url + "/en/")
        search_from_the_header(page, "Münze")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator(".search-summary").inner_text() == "4 articles match “Münze”."
        assert page.locator(".search-hit .snippet mark").count() >= 4
        shoot(page, "en-1280-results")

        search_from_the_header(page, "Gold Rhodiumbarren")
        assert "No article contains every word of “Gold Rhodiumbarren”." in page.locator(".search-empty").inner_text()
        shoot(page, "en-1280-no-result")
        page.set_viewport_size({"width": 390, "height": 844})
        shoot(page, "en-390-no-result")
