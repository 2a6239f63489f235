import datetime as dt

import pytest

from rundbrief.campaigns.authoring import CampaignError, create_campaign
from rundbrief.campaigns.models import Campaign

pytestmark = pytest.mark.django_db


def create(**fields):
    values = {"name": "April", "subject": "Goldpreis", "topics": ["finanznachrichten"], "body": "Text"}
    values.update(fields)
    return create_campaign(**values)


def test_create_campaign_stores_a_draft_with_all_fields(topics):
    since = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
    campaign = create(
        topics=[topics["sonderangebote"], "finanznachrichten"],
        preheader="Kurz",
        from_name="Redaktion",
        from_email="redaktion@musterhaus.example",
        reply_to="antwort@musterhaus.example",
        body_format="digest",
        body="",
        digest_since=since,
    )
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert campaign.state == "draft" and campaign.body_format == "digest" and campaign.digest_since == since
    assert (campaign.from_name, campaign.from_email, campaign.reply_to) == (
        "Redaktion",
        "redaktion@musterhaus.example",
        "antwort@musterhaus.example",
    )
    assert {t.slug for t in campaign.topics.all()} == {"sonderangebote", "finanznachrichten"}


def test_sender_defaults_come_from_the_settings(topics, settings):
    campaign = create()
    assert campaign.from_email == settings.CAMPAIGN_FROM_EMAIL and campaign.from_name == settings.CAMPAIGN_FROM_NAME


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"subject": "  "}, "the subject is empty"),
        ({"subject": "Gold\nBcc: x@example.org"}, "the subject must be a single line"),
        ({"from_name": "Redaktion\r\nBcc: x@example.org"}, "the from name must be a single line"),
        ({"from_email": "kein-at"}, "the from address 'kein-at' is not a valid e-mail address"),
        ({"reply_to": "kein-at"}, "the reply-to address 'kein-at' is not a valid e-mail address"),
        ({"topics": []}, "choose at least one topic (the audience is their confirmed subscribers)"),
        ({"topics": ["gold", "finanznachrichten", "silber"]}, "unknown topic: gold, silber"),
        ({"body_format": "pdf"}, "unknown body format 'pdf': expected one of markdown, html, digest"),
        ({"body": ""}, "the body is empty"),
        ({"body": "Gold\x00"}, "the body contains a NUL byte"),
    ],
)
def test_create_campaign_refuses_what_could_not_be_sent(topics, fields, message):
    with pytest.raises(CampaignError) as error:
        create(**fields)
    assert str(error.value) == message and isinstance(error.value, ValueError)
    assert not Campaign.objects.exists()
