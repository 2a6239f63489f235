"""In a real browser (Playwright + chromium): a reader opens the web version from a received mail and
its unsubscribe link unsubscribes nobody; the archive in German and English; an editor's test send
to two addresses from the admin preview. Screenshots at 1280 and 390 px go to /tmp/shots-webarchive/."""

import io
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from rundbrief.audience.models import Subscriber
from rundbrief.campaigns.actions import schedule_campaign
from rundbrief.campaigns.authoring import create_campaign
from rundbrief.campaigns.models import Campaign
from tests.support.browser import chromium_page
from tests.support.campaigns import make_audience
from tests.support.smtp import SmtpServer
from tests.support.workers import run_worker

pytestmark = [pytest.mark.browser]
SHOTS = Path("/tmp/shots-webarchive")
WEB_LINK = re.compile(r"https?://[^\s\"<>]+/newsletter/web/[A-Za-z0-9_-]+/")
BODY = "## Gold über 2.400 Dollar\n\nDer Goldpreis steigt die dritte Woche in Folge. [Zum Wochenausblick](/artikel/goldpreis-wochenausblick/)"


@pytest.fixture
def live_site(transactional_db, live_server, settings, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM checks here are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SITE_URL = live_server.url
    call_command("load-demo", stdout=io.StringIO())
    SHOTS.mkdir(exist_ok=True)
    with SmtpServer() as server:
        yield live_server, server, settings


def shoot(page, name):
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_web_version_from_a_mail_archive_in_both_languages_and_a_test_send_to_two_addresses(live_site):
    live, smtp, settings = live_site
    topic = Campaign._meta.get_field("topics").related_model.objects.order_by("pk").first()
    make_audience(topic, 3)
    campaign = create_campaign(name="KW 15", subject="Marktbericht KW 15", topics=[topic.slug], body=BODY)
    campaign = schedule_campaign(campaign)
    run_worker(settings, smtp)
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.FINISHED
    text = smtp.mails[0].get_body(preferencelist=("plain",)).get_content()
    web_link = WEB_LINK.search(text).group(0)
    smtp.clear()
    get_user_model().objects.create_superuser("erika", "erika@musterhaus.example", "geheim-123")

    with chromium_page() as page:
        # The reader opens the web version from the mail and clicks its "unsubscribe" link.
        page.goto(web_link)
        assert "Der Goldpreis steigt" in page.locator(".web-version").inner_text()
        shoot(page, "web-version")
        page.locator(".web-version").get_by_role("link", name="Newsletter abbestellen").click()
        page.wait_for_load_state()
        assert page.url == live.url + "/newsletter/"
        assert set(Subscriber.objects.values_list("status", flat=True)) == {Subscriber.Status.CONFIRMED}

        # The archive, German and English, reached from the site's footer.
        page.goto(live.url + "/")
        page.locator("footer").get_by_role("link", name="Newsletter-Archiv").click()
        page.wait_for_load_state()
        assert page.url == live.url + "/newsletter/archiv/"
        assert page.locator(".archive-item h2").all_inner_texts() == ["Marktbericht KW 15"]
        shoot(page, "archive-de")
        page.goto(live.url + "/en/newsletter/archive/")
        assert page.locator("h1").inner_text() == "Newsletter archive"
        shoot(page, "archive-en")
        page.locator(".archive-item h2 a").click()
        page.wait_for_load_state()
        assert page.url == web_link.replace("/newsletter/web/", "/en/newsletter/web/")

        # An editor sends a test of a new draft to two addresses from the preview page.
        draft = create_campaign(name="KW 16", subject="Marktbericht KW 16", topics=[topic.slug], body=BODY)
        page.goto(live.url + "/admin/login/")
        page.fill("#id_username", "erika")
        page.fill("#id_password", "geheim-123")
        page.locator("input[type=submit]").click()
        page.wait_for_load_state()
        page.goto(f"{live.url}/admin/campaigns/campaign/{draft.pk}/preview/")
        page.fill("#id_addresses", "redaktion@musterhaus.example, chefin@musterhaus.example")
        page.get_by_role("button", name="Test senden").click()
        page.wait_for_load_state()
        assert "Test an redaktion@musterhaus.example, chefin@musterhaus.example gesendet" in page.inner_text(
            ".messagelist"
        )
        assert page.input_value("#id_addresses") == "redaktion@musterhaus.example\nchefin@musterhaus.example"
        page.screenshot(path=str(SHOTS / "admin-test-send-1280.png"), full_page=True)
    recipients = sorted(r for m in smtp.messages for r in m.rcpt_tos)
    assert recipients == ["chefin@musterhaus.example", "redaktion@musterhaus.example"]
    assert {m["Subject"] for m in smtp.mails} == {"[Test] Marktbericht KW 16"}
