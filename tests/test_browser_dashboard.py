"""An editor logs in to the admin, follows the dashboard link from the index and reads the headline figures
(Playwright + chromium); screenshots at desktop and phone width go to /tmp/shots-dashboard/."""

import datetime as dt
import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from rundbrief.audience.models import Subscriber
from rundbrief.bounces.models import BounceEvent
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery
from rundbrief.newsroom.models import Topic
from tests.support.browser import chromium_page
from tests.support.campaigns import make_audience, scheduled_campaign

pytestmark = [pytest.mark.browser]

SHOTS = Path("/tmp/shots-dashboard")


@pytest.fixture
def live_admin(transactional_db, live_server, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    call_command("load-demo", stdout=io.StringIO())
    get_user_model().objects.create_superuser("redaktion", password="Gold-und-Silber-2026")
    topic = Topic.objects.get(slug="finanznachrichten")
    make_audience(topic, 1500)
    Subscriber.objects.bulk_create([Subscriber(email=f"messe{i}@example.org") for i in range(250)])  # pending
    campaign = scheduled_campaign([topic], subject="Marktbericht KW 49")
    start = timezone.now() - dt.timedelta(hours=2)
    Campaign.objects.filter(pk=campaign.pk).update(state="finished", started_at=start, finished_at=start)
    Delivery.objects.filter(campaign=campaign).update(state="sent", sent_at=start)
    for _ in range(2):  # 2 in 1500: above the 0.1 % warning, below the 0.3 % pause
        BounceEvent.objects.create(kind="complaint", source="api", campaign=campaign)
    return live_server


def test_editor_follows_the_dashboard_link_from_the_admin_index_and_sees_the_headline_figures(live_admin):
    SHOTS.mkdir(exist_ok=True)
    with chromium_page() as page:
        page.goto(live_admin.url + "/admin/")
        page.fill("#id_username", "redaktion")
        page.fill("#id_password", "Gold-und-Silber-2026")
        page.locator("input[type=submit]").click()
        page.wait_for_load_state()

        page.locator("#rundbrief-dashboard-link a").click()
        page.wait_for_load_state()
        assert page.url == live_admin.url + "/admin/dashboard/"
        cards = {
            card.locator(".label").inner_text(): card.locator(".figure").inner_text()
            for card in page.locator(".headline li").all()
        }
        assert cards["Bestätigte Abonnenten"] == "1.500"
        assert cards["Neu in den letzten 7 Tagen"] == "1.500"
        assert cards["Zugestellt"] == "1.500"
        assert cards["Beschwerdequote"] == "0,13 %"
        assert page.locator(".headline li.warn .label").inner_text() == "Beschwerdequote"
        audience = page.locator("section.audience").inner_text()
        assert "Bestätigung ausstehend\t250" in audience
        page.screenshot(path=str(SHOTS / "dashboard-1280.png"), full_page=True)

        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        assert page.locator(".headline li").first.is_visible()
        page.screenshot(path=str(SHOTS / "dashboard-390.png"), full_page=True)
