"""A test send goes to several of the team's addresses, marked as a test, and unsubscribes nobody."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.campaigns.actions import schedule_campaign
from rundbrief.campaigns.authoring import create_campaign
from rundbrief.campaigns.models import CampaignEvent
from rundbrief.delivery import testsend
from rundbrief.delivery.actions import start_campaign
from rundbrief.delivery.models import Delivery
from tests.support.smtp import SmtpServer, path_of

pytestmark = pytest.mark.django_db
BASE = "/admin/campaigns/campaign"
BANNER = "Testversand – diese E-Mail ging nur an das Redaktionsteam."


@pytest.fixture
def draft(topics):
    return create_campaign(
        name="April", subject="Goldpreis im April", topics=["finanznachrichten"], body="Der Goldpreis steigt."
    )


@pytest.fixture
def server(settings):
    settings.SITE_URL = "http://news.musterhaus.example"
    settings.ALLOWED_HOSTS = ["testserver", "news.musterhaus.example"]
    with SmtpServer() as server:
        settings.DELIVERY_SMTP_URLS = [server.url]
        yield server


def test_each_address_gets_one_copy_marked_as_a_test(admin_client, draft, server):
    response = admin_client.post(
        f"{BASE}/{draft.pk}/test/", {"addresses": "redaktion@example.org, Chefin@Example.org\nredaktion@example.org"}
    )
    assert response.status_code == 302
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == ["chefin@example.org", "redaktion@example.org"]
    for mail in server.mails:
        assert mail["Subject"] == "[Test] Goldpreis im April"
        html_part = mail.get_body(preferencelist=("html",)).get_content()
        text_part = mail.get_body(preferencelist=("plain",)).get_content()
        assert BANNER in html_part and text_part.startswith(f"*** {BANNER} ***")
        # The banner comes first, above the newsletter's own content.
        assert html_part.index(BANNER) < html_part.index("Im Browser ansehen") < html_part.index("Der Goldpreis")
    # Each copy, and each later test to the same address, is a message of its own (RFC 5322 §3.6.4).
    assert len({m["Message-ID"] for m in server.mails}) == 2
    events = list(draft.events.filter(action=CampaignEvent.Action.TEST_SENT).values_list("detail", flat=True))
    assert sorted(events) == sorted(m["Message-ID"] for m in server.mails)
    assert not any("example.org" in detail.split("@")[0] for detail in events)
    assert not Delivery.objects.exists()  # a test is not a delivery


def test_a_scheduled_campaigns_test_shows_its_frozen_content_with_the_banner(draft, server, topics):
    reader = Subscriber.objects.create(email="anna@example.org", status="confirmed", confirmed_at=timezone.now())
    Subscription.objects.create(subscriber=reader, topic=topics["finanznachrichten"])
    campaign = start_campaign(schedule_campaign(draft).pk)
    campaign.frozen_html = campaign.frozen_html.replace("Der Goldpreis steigt.", "Eingefroren.")
    campaign.save(update_fields=["frozen_html"])
    testsend.send_test_messages(campaign, ["redaktion@example.org"], actor="erika")
    html_part = server.mails[0].get_body(preferencelist=("html",)).get_content()
    assert "Eingefroren." in html_part and BANNER in html_part


def test_the_test_copys_links_work_but_unsubscribe_nobody(client, admin_client, draft, server, topics):
    reader = Subscriber.objects.create(email="anna@example.org", status="confirmed", confirmed_at=timezone.now())
    Subscription.objects.create(subscriber=reader, topic=topics["finanznachrichten"])
    admin_client.post(f"{BASE}/{draft.pk}/test/", {"addresses": "redaktion@example.org"})
    links = server.links(server.mails[0])
    unsubscribe = next(link for link in links if "/u/" in link)
    preferences = next(link for link in links if "/p/" in link)
    for link in (unsubscribe, preferences):
        page = client.get(path_of(link))  # the "unknown link" page: the token names no subscriber
        assert page.status_code == 404 and "Link ungültig" in page.content.decode()
    client.post(path_of(unsubscribe), {"List-Unsubscribe": "One-Click"})
    client.post(path_of(preferences), {"action": "withdraw"})
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.CONFIRMED


def test_the_editors_addresses_are_offered_again_next_time_and_only_to_them(admin_client, draft, server):
    admin_client.post(f"{BASE}/{draft.pk}/test/", {"addresses": "redaktion@example.org; chefin@example.org"})
    page = admin_client.get(f"{BASE}/{draft.pk}/preview/").content.decode()
    assert "redaktion@example.org\nchefin@example.org</textarea>" in page

    other = get_user_model().objects.create_superuser("max", "max@example.org", "x")
    admin_client.force_login(other)
    assert "redaktion@example.org" not in admin_client.get(f"{BASE}/{draft.pk}/preview/").content.decode()


def test_one_invalid_address_sends_nothing_and_says_which(admin_client, draft, server):
    response = admin_client.post(
        f"{BASE}/{draft.pk}/test/", {"addresses": "redaktion@example.org, kein-at-zeichen"}, follow=True
    )
    assert "Keine E-Mail-Adresse: kein-at-zeichen" in response.content.decode()
    assert server.messages == []
    assert not draft.events.exists()
    assert testsend.saved_test_addresses(response.wsgi_request.user) == []


def test_a_test_send_is_for_the_team_not_a_mailing(draft, server):
    too_many = ", ".join(f"r{i}@example.org" for i in range(testsend.MAX_TEST_ADDRESSES + 1))
    with pytest.raises(testsend.ValidationError, match="Höchstens 10"):
        testsend.parse_addresses(too_many)
    with pytest.raises(testsend.ValidationError):
        testsend.parse_addresses(" , ")
