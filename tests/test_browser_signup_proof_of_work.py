"""A reader on a phone signs up with the proof-of-work on: her browser solves the challenge by itself
(static rundbrief/proofofwork.js and its worker) and she sees the check-your-mail page (Playwright + chromium)."""

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from rundbrief.audience.models import Subscriber
from rundbrief.db.models import RateWindow
from tests.support.browser import chromium_page, screenshot_path, serious_violations
from tests.support.smtp import SmtpServer

pytestmark = [pytest.mark.browser]


@pytest.fixture
def live_site(transactional_db, live_server, settings, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's event loop runs in this thread
    settings.SITE_URL = live_server.url
    settings.RUNDBRIEF_SIGNUP_PROOF_OF_WORK = True
    settings.RUNDBRIEF_SIGNUP_PROOF_OF_WORK_DIFFICULTY = 20_000  # a real search, a short one
    call_command("load-demo", stdout=io.StringIO())
    with SmtpServer() as server:
        settings.SMTP_URL = server.url
        yield live_server, server


def test_a_reader_on_a_phone_signs_up_with_the_proof_of_work_and_sees_the_check_your_mail_page(live_site):
    live, smtp = live_site
    with chromium_page() as page:
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(live.url + "/artikel/goldpreis-wochenausblick/")
        box = page.locator(".newsletter-box")
        status = box.locator("[role=status]")
        assert status.get_attribute("id") == "proof-of-work-status"  # announced as a live region
        field = box.locator("input[type=email]")
        field.focus()  # using the form starts the check; the keyboard is enough
        field.type("leserin@example.org")
        # Waited for through the locator, not a JavaScript predicate: the page's CSP forbids eval.
        expect(status).to_have_text(status.get_attribute("data-done"), timeout=60_000)
        assert box.locator("input[name=altcha]").input_value() != ""
        box.screenshot(path=str(screenshot_path("signup-proof-of-work")))
        assert serious_violations(page) == []  # axe-core, WCAG 2.1 AA, with the check's status shown
        field.press("Enter")
        page.wait_for_url("**/newsletter/")
        assert "Bitte bestätigen" in page.locator("main").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert Subscriber.objects.get().email == "leserin@example.org"
    assert len(smtp.messages) == 1
    assert RateWindow.objects.filter(key__startswith="pow:").count() == 1  # the solution is spent
