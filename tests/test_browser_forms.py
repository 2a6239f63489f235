"""In a real browser: a mistyped address is corrected beside the article, and untick-all in the
preference centre unsubscribes after asking (Playwright + Debian's chromium)."""

import email
import io
import re
from email import policy
from pathlib import Path

import pytest
from django.core.management import call_command

from rundbrief.audience.models import Subscriber
from tests.support.browser import chromium_page
from tests.support.smtp import SmtpServer

pytestmark = [pytest.mark.browser]
SHOTS = Path("/tmp/shots-forms")


@pytest.fixture
def live_site(transactional_db, live_server, settings, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM checks here are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SITE_URL = live_server.url
    call_command("load-demo", stdout=io.StringIO())
    with SmtpServer() as server:
        settings.SMTP_URL = server.url  # service mail's transport
        yield live_server, server


def shoot(page, name):
    """The page at a phone's and a desktop's width, for a person to look at."""
    SHOTS.mkdir(exist_ok=True)
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)


def test_a_mistyped_address_is_corrected_on_the_article_and_untick_all_unsubscribes_after_asking(live_site):
    live, smtp = live_site
    article = live.url + "/artikel/goldpreis-wochenausblick/"
    with chromium_page() as page:
        page.goto(article)
        title = page.locator("h1").inner_text()
        page.locator("#newsletter-email").fill("kunde@gmial")
        page.get_by_role("button", name="Abschicken").click()
        page.wait_for_load_state()

        # The article again, the error beside the field, the typed address kept, focus on the summary.
        assert page.locator("h1").inner_text() == title
        field = page.locator("#newsletter-email")
        assert field.input_value() == "kunde@gmial"
        assert field.get_attribute("aria-invalid") == "true"
        described = page.locator("#" + field.get_attribute("aria-describedby"))
        assert described.is_visible() and described.inner_text().strip()
        assert page.evaluate("document.activeElement.id") == "signup-errors"
        shoot(page, "signup-error")

        field.fill("kunde@example.org")
        page.get_by_role("button", name="Abschicken").click()
        page.wait_for_load_state()
        assert "Bitte bestätigen" in page.locator("h1").inner_text()
        assert Subscriber.objects.get().email == "kunde@example.org"

        mail = email.message_from_bytes(smtp.messages[-1].data, policy=policy.default)
        link = re.search(r"https?://\S+/newsletter/bestaetigen/\S+/", mail.get_body(("plain",)).get_content()).group(0)
        page.goto(link)
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        page.get_by_role("link", name="Themen wählen").click()
        page.wait_for_load_state()
        assert "k•••e@example.org" in page.locator(".managed-address").inner_text()
        shoot(page, "preferences")

        for box in page.locator(".topics-form input[type=checkbox]").all():
            box.uncheck()
        page.get_by_role("button", name="Themen speichern").click()
        page.wait_for_load_state()
        assert "Von allem abmelden?" in page.locator("h1").inner_text()
        assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED  # asked, not done
        shoot(page, "preferences-untick-all")
        page.get_by_role("button", name="Ja, abmelden").click()
        page.wait_for_load_state()

        page.reload()
        assert "Sie sind abgemeldet" in page.locator(".message").inner_text()
        assert page.get_by_role("button", name="Von allem abmelden").count() == 0
        assert page.get_by_role("heading", name="Erneut anmelden").is_visible()
        assert page.locator("button[value=resubscribe]").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shoot(page, "preferences-withdrawn")
    assert Subscriber.objects.get().status == Subscriber.Status.WITHDRAWN
