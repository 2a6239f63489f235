"""The reader's pages fit every screen from 320 to 1440 px and pass axe-core's serious checks, in German
and English (Playwright + chromium, one browser for all pages). Screenshots at 390 and 1280 px go to
/tmp/shots-layout/ for a person to look at.

axe-core comes from npm, pinned in tests/axe/package-lock.json and installed by `make install-test`
(docs/decisions.md, "axe-core from npm, pinned")."""

import io
from pathlib import Path

import django
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from rundbrief.audience import links
from rundbrief.campaigns.actions import schedule_campaign
from rundbrief.campaigns.authoring import create_campaign
from rundbrief.delivery.actions import start_campaign
from rundbrief.newsroom.models import Topic
from tests.support.browser import AXE, chromium_page, serious_violations
from tests.support.readers import reader
from tests.support.smtp import SmtpServer
from tests.support.workers import run_worker

pytestmark = [pytest.mark.browser]
SHOTS = Path("/tmp/shots-layout")
URLIFY = Path(__file__).resolve().parents[1] / "rundbrief" / "newsroom" / "static" / "newsroom" / "admin"
DJANGO_URLIFY = Path(django.__file__).parent / "contrib" / "admin" / "static" / "admin" / "js" / "urlify.js"
WIDTHS = (320, 390, 1280, 1440)
SHOT_WIDTHS = (390, 1280)
AXE_WIDTHS = (390, 1280)


@pytest.fixture
def live_site(transactional_db, live_server, settings, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread
    settings.SITE_URL = live_server.url
    call_command("load-demo", stdout=io.StringIO())
    SHOTS.mkdir(exist_ok=True)
    # A reader with a /p/ link, and a sent campaign so the archive lists something.
    subscriber = reader("leserin@example.org")
    campaign = create_campaign(
        name="KW 48",
        subject="Goldpreis im Wochenausblick: Jahresendnachfrage",
        topics=list(Topic.objects.all()),
        body="## Gold hält sich\n\nDie Jahresendnachfrage stützt den Preis.",
    )
    start_campaign(schedule_campaign(campaign).pk)
    with SmtpServer() as server:
        run_worker(settings, server)
    return live_server, subscriber


def pages(base, subscriber, language):
    """(name, URL) of every page the layout promises to fit, in `language`."""
    topic = Topic.objects.get(slug="finanznachrichten")
    with translation.override(language):
        return [
            ("home", base + reverse("newsroom:home")),
            ("article", base + reverse("newsroom:article", args=["goldpreis-wochenausblick"])),
            ("topic", base + reverse("newsroom:topic", args=[topic.slug])),
            ("search", base + reverse("newsroom:search") + "?q=Gold"),
            ("page", base + reverse("newsroom:page", args=["impressum"])),
            ("signup", base + reverse("audience:signup")),
            ("preferences", links.preferences_url(subscriber.public_id, language)),  # SITE_URL is the live server
            ("archive", base + reverse("campaigns:archive")),
        ]


def test_every_reader_page_fits_320_to_1440_px_and_passes_axe_in_german_and_english(live_site):
    live, subscriber = live_site
    assert AXE.exists(), "axe-core is missing: run `make install-test` (npm ci in tests/axe/)"
    overflowing, violations, headings = [], [], []
    with chromium_page() as page:
        for language in ("de", "en"):
            for name, url in pages(live.url, subscriber, language):
                for width in WIDTHS:
                    page.set_viewport_size({"width": width, "height": 900})
                    response = page.goto(url)
                    assert response.status == 200, (url, response.status)
                    assert page.locator("html").get_attribute("lang") == language, url
                    size = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                    if size[0] > size[1]:
                        overflowing.append(f"{language} {name} at {width}: {size[0]} px wide")
                    if width in SHOT_WIDTHS:
                        page.screenshot(path=str(SHOTS / f"{name}-{language}-{width}.png"), full_page=True)
                    if width in AXE_WIDTHS:
                        violations += [f"{language} {name} at {width}: {v}" for v in serious_violations(page)]
                if page.locator("h1").count() != 1:
                    headings.append(f"{language} {name}: {page.locator('h1').count()} h1")
        details = layout_details(page, live.url)
    # One comparison, so a failure lists every broken promise at once.
    assert {"overflowing": overflowing, "axe": violations, "h1": headings, **details} == {
        "overflowing": [],
        "axe": [],
        "h1": [],
        "search on one row, placeholder fits": True,
        "consent text under the button, full width": True,
        "h1 hyphenates, breaks words only as a last resort": ["auto", "break-word", "de"],
        "current topic": ["Finanznachrichten"],
        "newsletter box on home and topic": [1, 1],
        "logo": ("/static/rundbrief/demo/musterhaus-logo.png", True),
        "focus visible": True,
        "admin slug of Südafrika, Größe": "suedafrika-groesse",
    }


def layout_details(page, base):
    """What the overflow check alone does not see: rows, stacking, hyphenation, highlighting, focus."""
    details = {}
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(base + "/")
    search = page.evaluate(
        """() => {
        const input = document.querySelector('#search-q'), button = document.querySelector('.search button');
        const style = getComputedStyle(input), ctx = document.createElement('canvas').getContext('2d');
        ctx.font = `${style.fontSize} ${style.fontFamily}`;
        const inner = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        const a = input.getBoundingClientRect(), b = button.getBoundingClientRect();
        return Math.abs(a.top - b.top) < 4 && ctx.measureText(input.placeholder).width <= inner;
    }"""
    )
    details["search on one row, placeholder fits"] = search
    details["newsletter box on home and topic"] = [page.locator(".newsletter-box").count()]
    details["logo"] = (
        page.locator(".brand img").get_attribute("src"),
        page.locator(".brand").inner_text().strip() == "Musterhaus Edelmetalle",  # the name beside it
    )
    page.keyboard.press("Tab")
    details["focus visible"] = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement); return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; }"
    )
    page.goto(base + "/themen/finanznachrichten/")
    details["current topic"] = page.locator('.menu a[aria-current="page"]').all_inner_texts()
    details["newsletter box on home and topic"].append(page.locator(".newsletter-box").count())
    stacked = []
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(base + "/artikel/goldpreis-wochenausblick/")
        stacked.append(
            page.evaluate(
                """() => {
            const form = document.querySelector('.newsletter-box form').getBoundingClientRect();
            const button = document.querySelector('.newsletter-box button[type=submit]').getBoundingClientRect();
            const text = document.querySelector('.newsletter-box .consent-text').getBoundingClientRect();
            return text.top >= button.bottom && text.width >= 0.9 * form.width;
        }"""
            )
        )
    details["consent text under the button, full width"] = all(stacked)
    page.set_viewport_size({"width": 320, "height": 900})
    page.goto(base + "/artikel/goldpreis-wochenausblick/")
    page.screenshot(path=str(SHOTS / "article-de-320-top.png"))  # the title's long compound, hyphenated
    details["h1 hyphenates, breaks words only as a last resort"] = page.evaluate(
        """() => { const h = document.querySelector('h1'), s = getComputedStyle(h);
        return [s.hyphens || s.webkitHyphens, s.overflowWrap, h.closest('[lang]').lang]; }"""
    )
    # The admin's slug from the title: Django's URLify drops umlauts; ours spells them out first.
    page.goto("about:blank")  # a page without the site's CSP, which (rightly) refuses injected script tags
    page.set_content("<p>slug</p>")
    page.add_script_tag(path=str(DJANGO_URLIFY))
    page.add_script_tag(path=str(URLIFY / "urlify_de.js"))
    details["admin slug of Südafrika, Größe"] = page.evaluate("URLify('Südafrika, Größe', 50, false)")
    return details
