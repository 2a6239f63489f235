import html
import re

import pytest
from django.conf import settings
from django.utils import timezone

from rundbrief.audience import tokens
from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.campaigns.authoring import create_campaign
from rundbrief.campaigns.models import Campaign
from rundbrief.campaigns.rendering import UNSUBSCRIBE_PLACEHOLDER
from rundbrief.delivery.models import Delivery

pytestmark = pytest.mark.django_db
BASE = "/admin/campaigns/campaign"


@pytest.fixture
def draft(topics):
    return create_campaign(
        name="April",
        subject="Goldpreis im April",
        topics=["finanznachrichten"],
        body="## Gold\n\nDer Goldpreis steigt.",
    )


@pytest.fixture
def readers(topics):
    """Two confirmed readers of financial news and one who never confirmed."""
    for address, status in [
        ("anna@example.org", "confirmed"),
        ("ben@example.org", "confirmed"),
        ("cem@example.org", "pending"),
    ]:
        reader = Subscriber.objects.create(email=address, status=status, confirmed_at=timezone.now())
        Subscription.objects.create(subscriber=reader, topic=topics["finanznachrichten"])


def compose_data(topics, **fields):
    data = {
        "name": "Mai",
        "subject": "Goldpreis im Mai",
        "preheader": "",
        "topics": [topics["finanznachrichten"].pk],
        "body_format": "markdown",
        "body": "Text",
        "from_name": "Musterhaus Edelmetalle",
        "from_email": "newsletter@musterhaus.example",
        "reply_to": "",
    }
    data.update(fields)
    return data


def test_editor_composes_a_draft_in_the_admin(admin_client, topics):
    response = admin_client.post(f"{BASE}/add/", compose_data(topics))
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get()
    assert campaign.state == "draft" and list(campaign.topics.all()) == [topics["finanznachrichten"]]


def test_compose_rejects_a_subject_with_a_line_break(admin_client, topics):
    response = admin_client.post(f"{BASE}/add/", compose_data(topics, subject="Hallo\nBcc: x@example.org"))
    assert response.status_code == 200 and "the subject must be a single line" in response.content.decode()
    assert not Campaign.objects.exists()


def test_compose_needs_a_body_unless_it_is_a_digest(admin_client, topics):
    response = admin_client.post(f"{BASE}/add/", compose_data(topics, body=""))
    assert response.status_code == 200 and not Campaign.objects.exists()
    assert admin_client.post(f"{BASE}/add/", compose_data(topics, body="", body_format="digest")).status_code == 302


def test_change_page_links_to_preview_and_progress(admin_client, draft):
    page = admin_client.get(f"{BASE}/{draft.pk}/change/").content.decode()
    assert f'href="{BASE}/{draft.pk}/preview/"' in page and f'href="{BASE}/{draft.pk}/progress/"' in page


def test_preview_shows_html_in_a_sandboxed_iframe_and_the_text(admin_client, draft):
    response = admin_client.get(f"{BASE}/{draft.pk}/preview/")
    page = response.content.decode()
    iframe = re.search(r'<iframe sandbox="" srcdoc="([^"]*)"', page)
    assert iframe, page[:3000]
    srcdoc = html.unescape(iframe.group(1))
    assert "Der Goldpreis steigt." in srcdoc
    # The per-recipient links are shown as example links of the real shape, not as placeholders.
    assert "%%RB:" not in page
    unsubscribe = re.search(r'href="(http://[^"]+/u/([^"]+))"', srcdoc)
    assert unsubscribe and unsubscribe.group(1).startswith(settings.SITE_URL)
    assert tokens.read_token(tokens.UNSUBSCRIBE, unsubscribe.group(2)) == ("preview", "")
    text = page.split("<pre", 1)[1]
    assert "Der Goldpreis steigt." in text and f"{settings.SITE_URL}/p/" in text
    assert "Goldpreis im April" in page


def test_preview_shows_render_warnings(admin_client, topics):
    empty_digest = create_campaign(name="KW", subject="Rückblick", topics=["sonderangebote"], body_format="digest")
    # In the admin's language, not the newsletter's: the German admin warns in German.
    assert "keine neuen Artikel" in admin_client.get(f"{BASE}/{empty_digest.pk}/preview/").content.decode()
    assert "no new articles" in admin_client.get(f"/en{BASE}/{empty_digest.pk}/preview/").content.decode()


def test_test_message_failure_is_shown_not_raised(admin_client, draft, settings):
    from tests.support.smtp import Faults, SmtpServer

    with SmtpServer(Faults(refuse_rcpt=lambda address: "550 no such mailbox")) as server:
        settings.DELIVERY_SMTP_URLS = [server.url]
        response = admin_client.post(f"{BASE}/{draft.pk}/test/", {"addresses": "redaktion@example.org"}, follow=True)
    assert response.status_code == 200 and "550 no such mailbox" in response.content.decode()


def schedule_now(client, campaign):
    return client.post(f"{BASE}/{campaign.pk}/schedule/", {"when": "now", "confirm": "1"})


def test_send_now_asks_first_showing_subject_topics_recipients_and_time_zone(admin_client, draft, readers):
    page = admin_client.get(f"{BASE}/{draft.pk}/schedule/?when=now").content.decode()
    assert "Goldpreis im April" in page and "Finanznachrichten" in page
    assert re.search(r'id="recipient-count"><strong>2</strong>', page)  # anna and ben; cem never confirmed
    assert "Europe/Berlin" in page and re.search(r'value="now"[^>]*checked', page)
    draft.refresh_from_db()
    assert draft.state == "draft" and not draft.events.exists()  # looking changes nothing


def test_confirmed_send_now_schedules_and_sending_freezes_content_and_audience(admin_client, draft, readers):
    from rundbrief.delivery.actions import start_campaign

    response = schedule_now(admin_client, draft)
    assert response.status_code == 302 and response["Location"].endswith(f"/{draft.pk}/progress/")
    draft.refresh_from_db()
    # Scheduled, but nothing rendered and nobody chosen yet: that happens when sending starts.
    assert draft.state == "scheduled" and draft.frozen_html == "" and not Delivery.objects.exists()
    start_campaign(draft.pk)
    draft.refresh_from_db()
    assert draft.state == "sending" and draft.recipient_count == 2 == Delivery.objects.count()
    assert "Der Goldpreis steigt." in draft.frozen_html and UNSUBSCRIBE_PLACEHOLDER in draft.frozen_text


def test_schedule_for_later_reads_the_time_in_the_site_time_zone(admin_client, draft, readers):
    import zoneinfo

    response = admin_client.post(f"{BASE}/{draft.pk}/schedule/", {"when": "later", "at": "2030-07-01T09:00"})
    assert response.status_code == 302
    draft.refresh_from_db()
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    assert (
        draft.state == "scheduled" and draft.scheduled_at.astimezone(berlin).isoformat() == "2030-07-01T09:00:00+02:00"
    )


@pytest.mark.parametrize(
    "data, error",
    [
        ({"when": "later", "at": ""}, "Choose the date and time"),
        ({"when": "later", "at": "2020-01-01T09:00"}, "in the past"),
        # 02:30 on the night daylight saving starts does not exist in Berlin.
        ({"when": "later", "at": "2030-03-31T02:30"}, "may not exist"),
        ({"when": "sometime"}, "Select a valid choice"),
    ],
)
def test_a_bad_schedule_time_is_refused_on_the_page_and_nothing_is_scheduled(admin_client, draft, data, error):
    response = admin_client.post(f"/en{BASE}/{draft.pk}/schedule/", data)
    assert response.status_code == 200 and error in html.unescape(response.content.decode())
    draft.refresh_from_db()
    assert draft.state == "draft" and draft.scheduled_at is None


def test_unschedule_returns_a_scheduled_campaign_to_an_editable_draft(admin_client, draft, readers):
    admin_client.post(f"{BASE}/{draft.pk}/schedule/", {"when": "later", "at": "2030-07-01T09:00"})
    admin_client.post(f"{BASE}/{draft.pk}/unschedule/")
    draft.refresh_from_db()
    assert draft.state == "draft" and draft.scheduled_at is None
    assert 'name="subject"' in admin_client.get(f"{BASE}/{draft.pk}/change/").content.decode()


def test_duplicate_makes_an_editable_draft_with_the_same_content_and_topics(admin_client, draft, readers):
    schedule_now(admin_client, draft)
    response = admin_client.post(f"{BASE}/{draft.pk}/duplicate/")
    copy = Campaign.objects.exclude(pk=draft.pk).get()
    assert response["Location"].endswith(f"/{copy.pk}/change/")
    assert (copy.state, copy.subject, copy.body) == ("draft", draft.subject, draft.body)
    assert list(copy.topics.all()) == list(draft.topics.all()) and copy.name == "Kopie von April"


def test_scheduled_campaign_is_read_only_and_cannot_be_deleted(admin_client, draft, readers):
    schedule_now(admin_client, draft)
    page = admin_client.get(f"{BASE}/{draft.pk}/change/").content.decode()
    assert 'name="subject"' not in page and "Goldpreis im April" in page
    assert admin_client.get(f"{BASE}/{draft.pk}/delete/").status_code == 403


def test_a_scheduled_campaign_cannot_be_scheduled_again(admin_client, draft, readers):
    schedule_now(admin_client, draft)
    response = schedule_now(admin_client, draft)
    assert response.status_code == 302
    assert draft.events.filter(action="scheduled").count() == 1


def test_pause_resume_and_cancel_buttons_change_the_state(admin_client, draft, readers):
    schedule_now(admin_client, draft)
    for verb, state in [("pause", "paused"), ("resume", "scheduled"), ("cancel", "cancelled")]:
        admin_client.post(f"{BASE}/{draft.pk}/{verb}/")
        draft.refresh_from_db()
        assert draft.state == state, verb


def test_a_transition_in_the_wrong_state_shows_a_message(admin_client, draft):
    response = admin_client.post(f"{BASE}/{draft.pk}/resume/", follow=True)
    assert "this needs: paused" in response.content.decode()
    draft.refresh_from_db()
    assert draft.state == "draft"


def test_transition_buttons_refuse_get(admin_client, draft):
    assert admin_client.get(f"{BASE}/{draft.pk}/cancel/").status_code == 405
    assert admin_client.get(f"{BASE}/{draft.pk}/duplicate/").status_code == 405
    assert Campaign.objects.get().state == "draft"


def test_progress_page_shows_counts_and_reloads_while_sending(admin_client, draft, readers):
    from rundbrief.delivery.actions import start_campaign

    schedule_now(admin_client, draft)
    start_campaign(draft.pk)
    Delivery.objects.filter(subscriber__email="anna@example.org").update(state="sent", sent_at=timezone.now())
    Delivery.objects.filter(subscriber__email="ben@example.org").update(state="skipped_withdrawn")
    page = admin_client.get(f"{BASE}/{draft.pk}/progress/").content.decode()
    assert '<meta http-equiv="refresh" content="5">' in page
    assert re.search(r'data-count="total">2<', page) and re.search(r'data-count="sent">1<', page)
    assert re.search(r'data-count="skipped">1 ', page) and re.search(r'data-count="failed">0<', page)
    assert re.search(r'data-count="bounced">0<', page) and re.search(r'data-count="rate">1 ', page)


def test_progress_page_of_a_draft_does_not_reload(admin_client, draft):
    page = admin_client.get(f"{BASE}/{draft.pk}/progress/").content.decode()
    assert "http-equiv" not in page and 'data-count="total">0<' in page


def test_list_action_pauses_selected_campaigns(admin_client, draft, readers):
    schedule_now(admin_client, draft)
    admin_client.post(f"{BASE}/", {"action": "pause_selected", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.state == "paused"


def test_other_admin_pages_of_a_campaign_still_work(admin_client, draft):
    assert admin_client.get(f"{BASE}/{draft.pk}/history/").status_code == 200
    assert admin_client.get(f"{BASE}/").status_code == 200


def test_test_message_arrives_over_smtp_with_real_links_in_both_parts(admin_client, draft, smtp_inbox, settings):
    settings.DELIVERY_SMTP_URLS = [settings.SMTP_URL]
    admin_client.post(f"{BASE}/{draft.pk}/test/", {"addresses": "redaktion@example.org"})
    (message,) = smtp_inbox.mails
    assert message["Subject"] == "[Test] Goldpreis im April" and message["To"] == "redaktion@example.org"
    html_part = message.get_body(preferencelist=("html",)).get_content()
    text_part = message.get_body(preferencelist=("plain",)).get_content()
    for part in (html_part, text_part):
        assert "Der Goldpreis steigt." in part and "%%RB:" not in part
        assert "http://news.musterhaus.example/u/" in part


def test_preview_is_in_the_newsletter_language_whatever_the_admin_language(admin_client, draft):
    page = admin_client.get(f"/en{BASE}/{draft.pk}/preview/").content.decode()
    assert "Sending and progress" in page  # the admin speaks English here
    assert "Newsletter abbestellen" in page  # the newsletter stays German (LANGUAGE_CODE)


def test_the_change_form_offers_send_now_for_a_draft(admin_client, topics):
    from rundbrief.campaigns.authoring import create_campaign

    campaign = create_campaign(name="Wochenbericht", subject="Marktbericht", topics=["finanznachrichten"], body="Text")
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert f'href="/admin/campaigns/campaign/{campaign.pk}/schedule/?when=now">Jetzt versenden …</a>' in page
    assert page.index("Jetzt versenden …") > page.index("</form>")  # after the change form
    assert 'value="Anhalten"' not in page  # a draft cannot be paused


def test_a_campaign_with_a_segment_names_it_and_counts_only_its_members_before_and_after_scheduling(
    admin_client, draft, readers, topics
):
    from django.db.models import ProtectedError

    from rundbrief.audience.models import Segment
    from rundbrief.audience.segments import save_segment
    from rundbrief.delivery.actions import start_campaign

    Subscriber.objects.filter(email="ben@example.org").update(language="en")
    german = save_segment(
        name="Deutschsprachige", match="all", rules=[{"field": "language", "operator": "is", "value": "de"}]
    )
    data = compose_data(topics, name=draft.name, subject=draft.subject, body=draft.body, segment=german.pk)
    assert admin_client.post(f"{BASE}/{draft.pk}/change/", data).status_code == 302
    page = admin_client.get(f"{BASE}/{draft.pk}/schedule/").content.decode()
    assert re.search(r'id="segment-name">Deutschsprachige<', page)
    assert re.search(r'id="recipient-count"><strong>1</strong>', page)  # anna; ben reads English
    schedule_now(admin_client, draft)
    start_campaign(draft.pk)
    draft.refresh_from_db()
    assert draft.recipient_count == 1 and list(Delivery.objects.values_list("subscriber__email", flat=True)) == [
        "anna@example.org"
    ]
    assert "Deutschsprachige" in admin_client.get(f"{BASE}/{draft.pk}/progress/").content.decode()
    with pytest.raises(ProtectedError):  # PROTECT: the segment a campaign went to stays
        Segment.objects.get(pk=german.pk).delete()
