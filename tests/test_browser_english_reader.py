"""A reader signs up on /en/, confirms, receives an English campaign and opens an English preference
centre from it (Playwright + chromium, the real SMTP capture for both kinds of mail)."""

import email
import io
import re
from email import policy

import pytest
from django.core.management import call_command

from rundbrief.audience.models import Subscriber
from rundbrief.campaigns.actions import schedule_campaign
from rundbrief.campaigns.authoring import create_campaign
from rundbrief.delivery.actions import start_campaign
from tests.support.browser import chromium_page, screenshot_path
from tests.support.smtp import SmtpServer
from tests.support.workers import run_worker

pytestmark = [pytest.mark.browser]


@pytest.fixture
def live_site(transactional_db, live_server, settings, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread
    settings.SITE_URL = live_server.url
    call_command("load-demo", stdout=io.StringIO())
    with SmtpServer() as server:
        settings.SMTP_URL = server.url
        yield live_server, server


def test_a_reader_on_the_english_site_gets_english_mail_and_an_english_preference_centre(live_site, settings):
    live, smtp = live_site
    with chromium_page() as page:
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(live.url + "/en/artikel/goldpreis-wochenausblick/")
        box = page.locator(".newsletter-box")
        box.locator("input[type=email]").fill("jane@example.org")
        for i in range(box.locator("input[type=checkbox]").count()):
            checkbox = box.locator("input[type=checkbox]").nth(i)
            if checkbox.is_visible():
                checkbox.check()
        box.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == "en"
        confirmation = email.message_from_bytes(smtp.messages[-1].data, policy=policy.default)
        link = re.search(r"https?://\S+/en/newsletter/\S+/", confirmation.get_body(("plain",)).get_content()).group(0)
        page.goto(link)
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        jane = Subscriber.objects.get(email="jane@example.org")
        assert jane.status == "confirmed" and jane.language == "en"

        topic = jane.subscriptions.first().topic
        campaign = create_campaign(name="Dec", subject="Gold at year end", topics=[topic], body="Gold holds.")
        start_campaign(schedule_campaign(campaign).pk)
        with SmtpServer() as newsletters:
            run_worker(settings, newsletters)
        by_subject = {m["Subject"]: m for m in newsletters.mails}
        # The worker's chores sent her English welcome mail too (docs/campaigns.md, "Welcome mail").
        assert set(by_subject) == {"Gold at year end", "Welcome to the Musterhaus Edelmetalle newsletter"}
        mail = by_subject["Gold at year end"]
        text = mail.get_body(("plain",)).get_content()
        assert "Gold holds." in text and "Unsubscribe from the newsletter" in text and "abbestellen" not in text
        preferences = re.search(r"https?://\S+/en/p/\S+", text).group(0)
        page.goto(preferences)
        assert page.locator("html").get_attribute("lang") == "en"
        page.screenshot(path=str(screenshot_path("english-preference-centre")), full_page=True)
        assert page.get_by_role("button", name=re.compile("^Save")).count() == 1  # her topics, in English
        body = page.locator("body").inner_text()
        assert "Kostenlose Beratung" not in body and "Finanznachrichten" not in body  # the site's texts too
