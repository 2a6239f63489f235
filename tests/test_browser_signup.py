"""A reader signs up from an article page in a real browser, opens the mail, confirms (Playwright + chromium)."""

import email
import io
import re
from email import policy

import pytest
from django.core.management import call_command

from rundbrief.audience.models import ConsentEvent, Subscriber
from tests.support.browser import chromium_page, screenshot_path
from tests.support.smtp import SmtpServer

pytestmark = [pytest.mark.browser]


@pytest.fixture
def live_site(transactional_db, live_server, settings, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM checks here are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SITE_URL = live_server.url
    call_command("load-demo", stdout=io.StringIO())
    with SmtpServer() as server:
        settings.SMTP_URL = server.url  # service mail's transport
        yield live_server, server


def test_reader_signs_up_beside_the_consent_text_confirms_from_the_mail_and_is_subscribed(live_site):
    live, smtp = live_site
    with chromium_page() as page:
        page.goto(live.url + "/artikel/goldpreis-wochenausblick/")
        box = page.locator(".newsletter-box")
        assert "jederzeit" in box.locator(".consent-text").inner_text()  # revocable at any time, beside the button
        box.locator("input[type=email]").fill("leserin@example.org")
        box.screenshot(path=str(screenshot_path("signup-form")))
        box.get_by_role("button", name="Abschicken").click()
        page.wait_for_load_state()
        assert "E-Mail" in page.locator("main").inner_text()
        assert Subscriber.objects.get().status == Subscriber.Status.PENDING

        assert len(smtp.messages) == 1
        mail = email.message_from_bytes(smtp.messages[0].data, policy=policy.default)
        assert mail["To"] == "leserin@example.org"
        text = mail.get_body(("plain",)).get_content()
        link = re.search(r"https?://\S+/newsletter/bestaetigen/\S+/", text).group(0)

        page.goto(link)  # GET only shows the button: mail scanners follow links
        assert Subscriber.objects.get().status == Subscriber.Status.PENDING
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        page.screenshot(path=str(screenshot_path("signup-confirmed")), full_page=True)
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    kinds = list(ConsentEvent.objects.values_list("kind", flat=True))
    assert kinds == ["requested", "confirmation_sent", "confirmed"]
