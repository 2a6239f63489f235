"""Each subscriber gets the campaign with the layout, footer and links in her language
(docs/campaigns.md, "Languages"): the editor's text as written, around it German or English."""

import re

import pytest
from django.utils import timezone

from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.campaigns.actions import schedule_campaign
from rundbrief.campaigns.authoring import create_campaign
from rundbrief.delivery.actions import start_campaign
from tests.support.smtp import SmtpServer
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)
SITE = "http://news.musterhaus.example"


def reader(address, topic, language):
    subscriber = Subscriber.objects.create(
        email=address, status="confirmed", confirmed_at=timezone.now(), language=language
    )
    Subscription.objects.create(subscriber=subscriber, topic=topic)
    return subscriber


def test_each_reader_gets_the_layout_footer_and_links_in_her_language(settings, client, finance):
    settings.SITE_URL = SITE
    finance.name_en = "Financial news"
    finance.save()
    reader("erika@example.org", finance, "de")
    reader("jane@example.org", finance, "en")
    reader("amelie@example.org", finance, "fr")  # a language the site does not offer: the default
    campaign = create_campaign(name="April", subject="Goldpreis im April", topics=[finance], body="Gold steigt.")
    start_campaign(schedule_campaign(campaign).pk)
    with SmtpServer() as server:
        run_worker(settings, server)
    mails = {m["To"]: m for m in server.mails}
    assert len(mails) == 3
    for address, prefix, unsubscribe_text, lang, topic_name in [
        ("erika@example.org", "", "Newsletter abbestellen", "de", "Finanznachrichten"),
        ("amelie@example.org", "", "Newsletter abbestellen", "de", "Finanznachrichten"),
        ("jane@example.org", "/en", "Unsubscribe from the newsletter", "en", "Financial news"),
    ]:
        mail = mails[address]
        text = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        assert "Gold steigt." in text and mail["Subject"] == "Goldpreis im April"  # the editor's text as written
        assert unsubscribe_text in text and f'<html lang="{lang}"' in html, address
        assert f"(topics: {topic_name})" in text or f"(Themen: {topic_name})" in text, address
        assert mail["List-Unsubscribe"].startswith(f"<{SITE}{prefix}/u/"), address
        preferences = re.search(rf"{re.escape(SITE)}\S*/p/\S+", text).group(0)
        assert preferences.startswith(f"{SITE}{prefix}/p/"), address
        page = client.get(preferences.removeprefix(SITE))
        assert page.status_code == 200 and f'<html lang="{lang}"' in page.content.decode(), address
