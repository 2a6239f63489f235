"""An editor sets up a weekly digest in the admin (real chromium); the worker's chore, driven by a
controlled clock, skips an empty week and issues a full one, which reaches the subscriber."""

import datetime as dt
import email
from email import policy
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from rundbrief.campaigns.digests import issue_due_digests
from rundbrief.campaigns.models import Campaign, Digest
from rundbrief.delivery.actions import start_campaign
from rundbrief.newsroom.models import Article, Topic
from tests.support.browser import chromium_page, screenshot_path
from tests.support.campaigns import make_audience
from tests.support.smtp import SmtpServer
from tests.support.workers import run_worker

pytestmark = [pytest.mark.browser]
SHOTS = Path("/tmp/shots-digest")


@pytest.fixture
def live_admin(transactional_db, live_server, settings, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SITE_URL = live_server.url
    get_user_model().objects.create_superuser("redaktion", "redaktion@musterhaus.example", "geheim-123")
    finance = Topic.objects.create(name="Finanznachrichten", slug="finanznachrichten")
    Topic.objects.create(name="Sonderangebote", slug="sonderangebote", menu_position=1)
    make_audience(finance, 1, prefix="anleger")
    with SmtpServer() as server:
        yield live_server, server, finance


def test_weekly_digest_from_the_admin_skips_an_empty_week_and_sends_a_full_one(live_admin, settings):
    live, smtp, finance = live_admin
    SHOTS.mkdir(exist_ok=True)
    with chromium_page() as page:
        page.goto(live.url + "/admin/login/")
        page.fill("#id_username", "redaktion")
        page.fill("#id_password", "geheim-123")
        page.click("input[type=submit]")
        page.goto(live.url + "/admin/campaigns/digest/add/")
        page.fill("#id_name", "Marktbericht")
        page.fill("#id_subject", "Marktbericht KW {week}")
        page.select_option("#id_topics_from", label="Finanznachrichten")
        page.click("#id_topics_add")
        page.select_option("#id_rule", "weekly")
        page.select_option("#id_weekday", "0")  # Montag
        page.fill("#id_local_time", "07:00")
        page.click("input[name=_continue]")
        page.wait_for_load_state()

        digest = Digest.objects.get()
        assert digest.active and [t.slug for t in digest.topics.all()] == ["finanznachrichten"]
        first_due = digest.next_due_at
        assert first_due.astimezone(timezone.get_default_timezone()).strftime("%a %H:%M") == "Mon 07:00"

        # The empty first week: the admin shows the skipped issue and why.
        [skipped] = issue_due_digests(now=first_due + dt.timedelta(seconds=5))
        assert skipped.outcome == "skipped" and not Campaign.objects.exists()
        page.reload()
        issues = page.locator("#issues-group")
        assert "übersprungen" in issues.inner_text() and "keine neuen Artikel" in issues.inner_text()

        # A full second week: an article published after the digest was created.
        article = Article.objects.create(
            title="Silberpreis zieht an",
            slug="silberpreis-zieht-an",
            lead="Die Feinunze kostet so viel wie seit Jahren nicht.",
            status=Article.Status.PUBLISHED,
            published_at=first_due + dt.timedelta(days=2),
        )
        article.topics.set([finance])
        second_due = Digest.objects.get().next_due_at
        assert second_due - first_due == dt.timedelta(days=7)
        [sent] = issue_due_digests(now=second_due + dt.timedelta(seconds=5))
        campaign = sent.campaign
        start_campaign(campaign.pk, now=second_due + dt.timedelta(seconds=10))
        run_worker(settings, smtp)

        page.reload()
        issues = page.locator("#issues-group")
        assert campaign.name in issues.inner_text() and "Kampagne erstellt" in issues.inner_text()
        page.screenshot(path=str(SHOTS / "digest-change.png"), full_page=True)
        page.screenshot(path=str(screenshot_path("digest-change")), full_page=True)
        issues.get_by_role("link", name=campaign.name).click()
        page.wait_for_load_state()
        assert "/admin/campaigns/campaign/" in page.url
        page.goto(live.url + "/admin/campaigns/digest/")
        assert "Montag 07:00" in page.locator("#result_list").inner_text()
        page.screenshot(path=str(SHOTS / "digest-list.png"), full_page=True)

    [received] = smtp.messages
    mail = email.message_from_bytes(received.data, policy=policy.default)
    week = (second_due.astimezone(timezone.get_default_timezone())).isocalendar().week
    assert mail["Subject"] == f"Marktbericht KW {week}"
    assert "Silberpreis zieht an" in mail.get_body(("plain",)).get_content()
    assert Campaign.objects.get().state == Campaign.State.FINISHED
