"""Every newsletter has a public web version that unsubscribes nobody, and sent ones are in an archive."""

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest
from django.utils import timezone

from rundbrief.audience.models import Subscriber
from rundbrief.campaigns.actions import schedule_campaign
from rundbrief.campaigns.archive import archived_campaigns, set_shown_in_archive
from rundbrief.campaigns.authoring import create_campaign
from rundbrief.campaigns.models import Campaign, CampaignEvent
from rundbrief.campaigns.rendering import render_campaign
from tests.support.campaigns import make_audience
from tests.support.smtp import SmtpServer, path_of
from tests.support.workers import run_worker

SITE = "http://news.musterhaus.example"
WEB_LINK = re.compile(r"https?://[^\s\"<>]+/newsletter/web/[A-Za-z0-9_-]+/")


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = SITE
    settings.ALLOWED_HOSTS = ["testserver", "news.musterhaus.example"]


def draft(subject="Goldpreis im April", body="## Gold\n\nDer Goldpreis steigt.", **fields):
    return create_campaign(name=subject, subject=subject, topics=["finanznachrichten"], body=body, **fields)


def sent(subject, *, days_ago=1, shown=True, state=Campaign.State.FINISHED):
    """A campaign as the worker leaves it: content frozen, sending started (and finished)."""
    campaign = draft(subject, body=f"Inhalt von {subject}.")
    rendered = render_campaign(campaign)
    started = timezone.now() - dt.timedelta(days=days_ago)
    Campaign.objects.filter(pk=campaign.pk).update(
        state=state,
        frozen_subject=rendered.subject,
        frozen_html=rendered.html,
        frozen_text=rendered.text,
        started_at=started,
        finished_at=started if state == Campaign.State.FINISHED else None,
        show_in_archive=shown,
    )
    return Campaign.objects.get(pk=campaign.pk)


def web_path(campaign, prefix=""):
    return f"{prefix}/newsletter/web/{campaign.web_token}/"


@pytest.mark.django_db
def test_every_campaign_has_its_own_unguessable_web_token(topics):
    tokens = [draft(f"Ausgabe {i}").web_token for i in range(20)]
    assert len(set(tokens)) == 20
    for token in tokens:
        # 16 random bytes, URL-safe base64: 128 bits nobody finds by counting.
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token)


@pytest.mark.django_db(transaction=True)
def test_every_delivered_copy_links_to_the_web_version_which_shows_it_without_personal_links(settings, client, finance):
    readers = make_audience(finance, 3)
    campaign = schedule_campaign(draft())
    with SmtpServer() as server:
        run_worker(settings, server)
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.FINISHED and len(server.mails) == 3
    links = set()
    for mail in server.mails:
        html_part = mail.get_body(preferencelist=("html",)).get_content()
        text_part = mail.get_body(preferencelist=("plain",)).get_content()
        assert "Im Browser ansehen" in html_part and "Im Browser ansehen" in text_part
        for part in (html_part, text_part):  # the link in each part, not just somewhere
            found = WEB_LINK.findall(part)
            assert found, part[:300]
            links |= set(found)
    (link,) = links  # one address per campaign, the same in every copy: it names no recipient
    assert link == f"{SITE}{web_path(campaign)}"

    page = client.get(path_of(link)).content.decode()
    assert "Der Goldpreis steigt." in page and "Goldpreis im April" in page
    assert "%%RB:" not in page
    assert "/u/" not in page and "/p/" not in page  # no unsubscribe or preference token of anybody
    assert all(reader.public_id not in page for reader in readers)


@pytest.mark.django_db(transaction=True)
def test_the_web_versions_unsubscribe_link_withdraws_nobody(settings, client, finance):
    make_audience(finance, 2)
    schedule_campaign(draft())
    with SmtpServer() as server:
        run_worker(settings, server)
    link = WEB_LINK.search(server.mails[0].get_body(preferencelist=("plain",)).get_content()).group(0)
    page = client.get(path_of(link)).content.decode()
    unsubscribe = re.search(r'<a href="([^"]+)"[^>]*>Newsletter abbestellen</a>', page).group(1)
    assert unsubscribe == f"{SITE}/newsletter/"  # the neutral sign-up page
    assert client.get(path_of(unsubscribe)).status_code == 200
    client.post(path_of(unsubscribe), {"List-Unsubscribe": "One-Click"})
    assert set(Subscriber.objects.values_list("status", flat=True)) == {Subscriber.Status.CONFIRMED}


@pytest.mark.django_db
def test_an_unsent_campaigns_web_version_is_for_editors_only(client, admin_client, topics):
    campaign = draft()
    assert client.get(web_path(campaign)).status_code == 404
    response = admin_client.get(web_path(campaign))
    assert response.status_code == 200 and "Der Goldpreis steigt." in response.content.decode()
    assert "Vorschau für die Redaktion" in response.content.decode()
    assert response["X-Robots-Tag"] == "noindex"
    assert client.get("/newsletter/web/keinsolchestoken12345/").status_code == 404


@pytest.mark.django_db
def test_a_web_version_is_public_once_sending_starts_and_indexed_only_when_archived(client, topics):
    sending = sent("Noch im Versand", state=Campaign.State.SENDING)
    response = client.get(web_path(sending))
    assert response.status_code == 200 and response["X-Robots-Tag"] == "noindex"
    assert '<meta name="robots" content="noindex">' in response.content.decode()
    finished = sent("Fertig")
    response = client.get(web_path(finished))
    assert "X-Robots-Tag" not in response and 'name="robots"' not in response.content.decode()


@pytest.mark.django_db
def test_the_archive_lists_only_finished_campaigns_an_editor_kept_in_newest_first(client, topics):
    sent("Marktbericht März", days_ago=30)
    sent("Marktbericht April", days_ago=2)
    sent("Interner Fehlversand", shown=False)
    sent("Noch im Versand", state=Campaign.State.SENDING)
    sent("Angehalten", state=Campaign.State.PAUSED)
    draft("Entwurf")
    for path in ("/newsletter/archiv/", "/en/newsletter/archive/"):
        page = client.get(path).content.decode()
        listed = re.findall(r'<h2><a href="/(?:en/)?newsletter/web/[^"]+/">([^<]+)</a>', page)
        assert listed == ["Marktbericht April", "Marktbericht März"], path
    assert "Newsletter archive" in client.get("/en/newsletter/archive/").content.decode()
    assert "Newsletter-Archiv" in client.get("/newsletter/archiv/").content.decode()


@pytest.mark.django_db
def test_the_archive_is_paginated(client, topics, settings):
    for i in range(21):
        sent(f"Ausgabe {i:02d}", days_ago=i + 1)
    first = client.get("/newsletter/archiv/").content.decode()
    second = client.get("/newsletter/archiv/?page=2").content.decode()
    assert "Ausgabe 00" in first and "Ausgabe 19" in first and "Ausgabe 20" not in first
    assert "Ausgabe 20" in second and "Ausgabe 00" not in second
    assert 'rel="next"' in first and 'rel="prev"' in second


@pytest.mark.django_db
def test_an_editor_keeps_a_sent_newsletter_out_of_the_archive_in_the_admin(admin_client, admin_user, client, topics):
    campaign = sent("Interner Fehlversand")
    assert list(archived_campaigns()) == [campaign]
    change = f"/admin/campaigns/campaign/{campaign.pk}/change/"
    page = admin_client.get(change).content.decode()
    assert 'name="show_in_archive"' in page and web_path(campaign) in page
    admin_client.post(change, {"_save": "1"})  # an unticked checkbox sends nothing
    campaign.refresh_from_db()
    assert campaign.show_in_archive is False and campaign.state == Campaign.State.FINISHED
    assert "Interner Fehlversand" not in client.get("/newsletter/archiv/").content.decode()
    event = campaign.events.get()
    assert (event.action, event.actor) == (CampaignEvent.Action.HIDDEN_FROM_ARCHIVE, admin_user.get_username())
    # The web version stays reachable for those who have the link, but search engines are told to skip it.
    assert client.get(web_path(campaign))["X-Robots-Tag"] == "noindex"
    admin_client.post(change, {"show_in_archive": "on", "_save": "1"})
    assert list(archived_campaigns()) == [campaign]


@pytest.mark.django_db
def test_showing_a_campaign_that_is_already_shown_records_nothing(topics):
    campaign = sent("Marktbericht")
    set_shown_in_archive(campaign, True, actor="erika")
    assert not campaign.events.exists()


@pytest.mark.django_db
def test_the_archive_feeds_are_valid_and_link_to_the_web_versions(client, topics):
    campaign = sent("Marktbericht April", days_ago=2)
    sent("Interner Fehlversand", shown=False)
    archive = client.get("/newsletter/archiv/").content.decode()
    assert 'href="/newsletter/archiv/feed/rss/"' in archive and 'type="application/atom+xml"' in archive

    rss = client.get("/newsletter/archiv/feed/rss/")
    assert rss["Content-Type"].startswith("application/rss+xml")
    items = ET.fromstring(rss.content).findall("./channel/item")
    assert [(i.findtext("title"), i.findtext("link")) for i in items] == [
        ("Marktbericht April", f"{SITE}{web_path(campaign)}")
    ]
    atom = ET.fromstring(client.get("/newsletter/archiv/feed/atom/").content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = atom.findall("a:entry", ns)
    assert [e.find("a:link", ns).get("href") for e in entries] == [f"{SITE}{web_path(campaign)}"]


@pytest.mark.django_db
def test_the_site_links_to_the_archive_in_the_footer_and_the_newsletter_box(client, topics, make_article, finance):
    make_article(title="Gold", slug="gold", topics=[finance])
    home = client.get("/").content.decode()
    assert '<a href="/newsletter/archiv/">Newsletter-Archiv</a>' in home
    article = client.get("/artikel/gold/").content.decode()
    assert 'class="newsletter-archive-link"><a href="/newsletter/archiv/">' in article
    assert '<a href="/en/newsletter/archive/">Newsletter archive</a>' in client.get("/en/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_each_existing_campaign_a_token_of_its_own():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("campaigns", "0004_lifecycle_events")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        OldCampaign = executor.loader.project_state(before).apps.get_model("campaigns", "Campaign")
        for i in range(3):
            OldCampaign.objects.create(name=f"Alt {i}", subject=f"Alt {i}", from_email="n@musterhaus.example")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    tokens = list(Campaign.objects.values_list("web_token", flat=True))
    assert len(tokens) == 3 and len(set(tokens)) == 3 and all(len(t) == 22 for t in tokens)
