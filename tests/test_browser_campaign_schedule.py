"""An editor schedules in a real browser: confirmation page, unschedule, and a digest scheduled for
later that carries an article published after the click (Playwright + chromium)."""

import datetime as dt
import email
import io
import zoneinfo
from email import policy

import pytest
from django.core.management import call_command
from django.utils import timezone

from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.campaigns.authoring import create_campaign
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.actions import start_campaign
from rundbrief.delivery.engine import Options
from rundbrief.newsroom.models import Article, Topic
from rundbrief.ops.worker import build_worker
from tests.support.browser import chromium_page, screenshot_path
from tests.support.smtp import SmtpServer

pytestmark = [pytest.mark.browser]
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
PASSWORD = "Redaktion-2026-geheim"


@pytest.fixture
def live_admin(transactional_db, live_server, settings, monkeypatch, django_user_model):
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SITE_URL = live_server.url
    call_command("load-demo", stdout=io.StringIO())
    django_user_model.objects.create_superuser("erika", "erika@musterhaus.example", PASSWORD)
    finance = Topic.objects.get(slug="finanznachrichten")
    for address in ["anna@example.org", "ben@example.org"]:
        reader = Subscriber.objects.create(email=address, status="confirmed", confirmed_at=timezone.now())
        Subscription.objects.create(subscriber=reader, topic=finance)
    return live_server


def log_in(page, url):
    page.goto(url + "/admin/login/")
    page.fill("#id_username", "erika")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_load_state()


def test_editor_schedules_through_the_confirmation_page_unschedules_and_the_digest_is_put_together_at_sending(
    live_admin, settings
):
    digest = create_campaign(
        name="Wochenrückblick", subject="Gold diese Woche", topics=["finanznachrichten"], body_format="digest"
    )
    base = f"{live_admin.url}/admin/campaigns/campaign/{digest.pk}"
    with chromium_page() as page:
        log_in(page, live_admin.url)
        page.goto(base + "/preview/")
        page.get_by_role("link", name="Versand planen …").first.click()
        page.wait_for_load_state()
        # The confirmation page: subject, topics, recipients as of now, the time zone; nothing happened yet.
        summary = page.locator("#schedule-summary").inner_text()
        assert "Gold diese Woche" in summary and "Finanznachrichten" in summary and "Europe/Berlin" in summary
        assert page.locator("#recipient-count strong").inner_text() == "2"
        assert Campaign.objects.get(pk=digest.pk).state == "draft"
        page.check("input[name=when][value=later]")
        page.fill("input[name=at]", "2030-03-31T02:30")  # skipped by the clocks going forward in Berlin
        page.get_by_role("button", name="Ja, diesen Newsletter einplanen").click()
        page.wait_for_load_state()
        # Django's own message: the time cannot be read unambiguously in Europe/Berlin.
        assert "Europe/Berlin" in page.locator("#schedule-form .errorlist").inner_text()
        assert Campaign.objects.get(pk=digest.pk).state == "draft"
        page.fill("input[name=at]", "2030-06-03T09:00")
        page.screenshot(path=str(screenshot_path("campaign-schedule-confirm")), full_page=True)
        page.get_by_role("button", name="Ja, diesen Newsletter einplanen").click()
        page.wait_for_load_state()
        campaign = Campaign.objects.get(pk=digest.pk)
        assert campaign.state == "scheduled"
        assert campaign.scheduled_at.astimezone(BERLIN) == dt.datetime(2030, 6, 3, 9, 0, tzinfo=BERLIN)

        page.screenshot(path=str(screenshot_path("campaign-progress-scheduled")), full_page=True)
        note = page.locator("#campaign-scheduled").inner_text()
        assert "3. Juni 2030 09:00" in note and "2 Empfänger" in note
        # Unschedule from the progress page: an editable draft again.
        page.get_by_role("button", name="Planung aufheben (zurück zum Entwurf)").click()
        page.wait_for_load_state()
        campaign.refresh_from_db()
        assert campaign.state == "draft" and campaign.scheduled_at is None

        # Schedule again, for a few minutes from now; then an article appears after the click.
        soon = timezone.localtime(timezone.now() + dt.timedelta(minutes=3)).replace(second=0, microsecond=0)
        page.goto(base + "/schedule/?when=later")
        page.fill("input[name=at]", soon.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_role("button", name="Ja, diesen Newsletter einplanen").click()
        page.wait_for_load_state()
    late = Article.objects.create(
        title="Goldpreis springt nach Zinsentscheid",
        slug="goldpreis-zinsentscheid",
        lead="Nach dem Zinsentscheid steigt Gold kräftig.",
        body="Text",
        status=Article.Status.PUBLISHED,
        published_at=timezone.now(),
    )
    late.topics.set([Topic.objects.get(slug="finanznachrichten")])
    assert Campaign.objects.get(pk=digest.pk).frozen_html == ""  # nothing put together at the click
    # The send time comes: the worker starts the campaign; the digest is built now, with the late article.
    assert start_campaign(digest.pk) is None  # not yet due
    started = start_campaign(digest.pk, now=soon + dt.timedelta(seconds=1))
    assert started.state == "sending" and started.recipient_count == 2
    with SmtpServer() as server:
        settings.DELIVERY_SMTP_URLS = [server.url]
        build_worker("schedule-test", Options(until_idle=True, recheck_seconds=0.05, idle_poll_seconds=0.05)).run()
    assert len(server.messages) == 2
    mail = email.message_from_bytes(server.messages[0].data, policy=policy.default)
    assert mail["Subject"] == "Gold diese Woche"
    assert "Goldpreis springt nach Zinsentscheid" in mail.get_body(("plain",)).get_content()
