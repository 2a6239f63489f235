"""A campaign's state changes are recorded with who made them, in the same transaction, and shown read-only."""

import pytest
from django.db import transaction
from django.utils import timezone

from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.campaigns import actions
from rundbrief.campaigns.actions import schedule_campaign
from rundbrief.campaigns.authoring import create_campaign
from rundbrief.campaigns.models import CampaignEvent

pytestmark = pytest.mark.django_db
BASE = "/admin/campaigns/campaign"


@pytest.fixture
def draft(topics):
    reader = Subscriber.objects.create(email="anna@example.org", status="confirmed", confirmed_at=timezone.now())
    Subscription.objects.create(subscriber=reader, topic=topics["finanznachrichten"])
    return create_campaign(name="April", subject="Goldpreis im April", topics=["finanznachrichten"], body="Gold.")


def history(campaign):
    return list(campaign.events.values_list("action", "actor"))


def test_schedule_pause_resume_and_cancel_each_record_their_actor(draft):
    schedule_campaign(draft, actor="erika")
    actions.pause_campaign(draft, reason="complaints", actor="bounces")
    actions.resume_campaign(draft, actor="cli")
    actions.cancel_campaign(draft, actor="erika")
    assert history(draft) == [("scheduled", "erika"), ("paused", "bounces"), ("resumed", "cli"), ("cancelled", "erika")]
    assert draft.events.get(action="paused").detail == "complaints"
    assert draft.events.get(action="scheduled").detail.startswith("1 Empfänger, Versand ab ")


def test_a_refused_state_change_records_nothing(draft):
    with pytest.raises(actions.CampaignStateError):
        actions.resume_campaign(draft, actor="erika")
    assert not CampaignEvent.objects.exists()


def test_the_event_is_rolled_back_with_its_state_change(draft):
    schedule_campaign(draft, actor="erika")
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.pause_campaign(draft, actor="erika")
        raise RuntimeError("the caller's transaction fails")
    draft.refresh_from_db()
    assert draft.state == "scheduled" and history(draft) == [("scheduled", "erika")]


def test_the_admin_records_the_editor_and_shows_the_history_read_only(admin_client, admin_user, draft):
    admin_client.post(f"{BASE}/{draft.pk}/schedule/", {"when": "now"})
    admin_client.post(f"{BASE}/{draft.pk}/pause/")
    assert history(draft) == [("scheduled", admin_user.get_username()), ("paused", admin_user.get_username())]
    page = admin_client.get(f"{BASE}/{draft.pk}/change/").content.decode()
    shown = page.split('class="form-row field-history"')[1].split("</fieldset>")[0]
    assert shown.count(admin_user.get_username()) == 2 and "<input" not in shown and "<textarea" not in shown


def test_a_test_mail_is_in_the_history_with_its_sender_and_message_id_not_the_address(draft, settings):
    from rundbrief.delivery import testsend
    from tests.support.smtp import SmtpServer

    with SmtpServer() as server:
        settings.DELIVERY_SMTP_URLS = [server.url]
        (message_id,) = testsend.send_test_messages(draft, ["redaktion@example.org"], actor="erika")
        assert len(server.messages) == 1
    event = draft.events.get(action="test_sent")
    assert (event.actor, event.detail) == ("erika", message_id)
    assert "redaktion" not in event.detail
