"""A reader signs up and confirms in a real browser; the worker's chore then sends her one welcome mail (Playwright + chromium)."""

import email
import io
import re
from email import policy

import pytest
from django.core.management import call_command

from rundbrief.audience.models import Subscriber
from rundbrief.delivery.models import WelcomeDelivery
from rundbrief.ops.worker import periodic_chores
from tests.support.browser import chromium_page, screenshot_path
from tests.support.smtp import SmtpServer

pytestmark = [pytest.mark.browser]


@pytest.fixture
def live_site(transactional_db, live_server, settings, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM checks here are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SITE_URL = live_server.url
    call_command("load-demo", stdout=io.StringIO())  # the demo's welcome mails are switched on
    with SmtpServer() as server:
        settings.SMTP_URL = server.url  # the double-opt-in mail
        settings.DELIVERY_SMTP_URLS = [server.url]  # the welcome mail goes the campaigns' way
        yield live_server, server


def parsed(message):
    return email.message_from_bytes(message.data, policy=policy.default)


def test_a_reader_who_confirms_in_the_browser_gets_one_welcome_mail_whose_links_work(live_site):
    live, smtp = live_site
    with chromium_page() as page:
        page.goto(live.url + "/artikel/goldpreis-wochenausblick/")
        box = page.locator(".newsletter-box")
        box.locator("input[type=email]").fill("leserin@example.org")
        box.get_by_role("button", name="Abschicken").click()
        page.wait_for_load_state()
        (request,) = [parsed(m) for m in smtp.messages]
        link = re.search(r"https?://\S+/newsletter/bestaetigen/\S+/", request.get_body(("plain",)).get_content())
        page.goto(link.group(0))
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED
        assert len(smtp.messages) == 1  # the welcome waits for the worker

        periodic_chores()  # what every delivery worker does every few seconds
        periodic_chores()
        assert len(smtp.messages) == 2
        welcome = parsed(smtp.messages[1])
        assert welcome["To"] == "leserin@example.org"
        assert welcome["Subject"] == "Willkommen beim Newsletter von Musterhaus Edelmetalle"
        assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert WelcomeDelivery.objects.get().state == WelcomeDelivery.State.SENT

        # The mail as a mail client shows it; its "change topics" link opens her preference centre.
        page.set_content(welcome.get_body(("html",)).get_content())
        assert "Herzlich willkommen!" in page.locator("h2").first.inner_text()
        page.screenshot(path=str(screenshot_path("welcome-mail")), full_page=True)
        page.get_by_role("link", name="Themen ändern").click()
        page.wait_for_load_state()
        assert page.url.startswith(live.url + "/p/")
        assert page.locator("input[type=checkbox]").count() >= 3  # the topics she may choose
