"""A reader opens a demo article in a real browser (Playwright + Debian's chromium)."""

import io

import pytest
from django.core.management import call_command

from tests.support.browser import chromium_page, screenshot_path

pytestmark = [pytest.mark.browser]


@pytest.fixture
def demo_live(transactional_db, live_server, settings):
    settings.SITE_URL = live_server.url
    call_command("load-demo", stdout=io.StringIO())
    return live_server


def test_reader_sees_date_time_subheadings_further_reading_and_signup_box(demo_live):
    with chromium_page() as page:
        page.goto(demo_live.url + "/")
        page.get_by_role("link", name="Goldpreis im Wochenausblick").first.click()
        page.wait_for_url("**/artikel/goldpreis-wochenausblick/")

        assert page.locator(".topbar").inner_text().count("Kostenlose Beratung") == 1
        assert page.locator(".article .date").inner_text() == "27.11.2026"
        assert page.locator(".article .time").inner_text() == "13:45 Uhr"
        headings = page.locator(".article .body h2").all_inner_texts()
        assert "Was den Goldpreis bewegt" in headings and "Ausblick für Anleger" in headings
        further = page.locator(".further-reading")
        assert further.locator("h2").inner_text() == "Wissenswertes zum Thema"
        links = further.locator("li a").all_inner_texts()
        assert 1 <= len(links) <= 5 and not any("Goldpreis im Wochenausblick" in t for t in links)
        assert page.locator(".newsletter-box button").inner_text() == "Abschicken"

        path = screenshot_path("article")
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000

        # On a phone (390 px) every topic of the menu and the search are on the screen, not cut off.
        page.set_viewport_size({"width": 390, "height": 800})
        page.goto(demo_live.url + "/")
        for element in page.locator(".menu a").all() + [page.locator(".search button")]:
            box = element.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, element.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
