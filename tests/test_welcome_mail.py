"""The welcome mail (rundbrief/delivery/welcome.py): one per subscriber who confirms, sent by the worker's chore.

Invariants, each with the test that would catch its violation:
- a reader who confirms gets exactly one welcome mail, in her language, with the newsletter footer
  and one-click unsubscribe (RFC 8058), however often and in however many workers the chore runs;
- consent is read again at sending: withdrawn, suppressed or erased since confirming → no mail;
- switched off → no mail; imported subscribers and a second confirmation → no mail.
"""

import io
import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from rundbrief.audience import actions, tokens
from rundbrief.audience.models import ConsentText, Subscriber
from rundbrief.audience.queries import export_subscriber
from rundbrief.campaigns.models import WelcomeMail
from rundbrief.delivery import welcome
from rundbrief.delivery.models import WelcomeDelivery
from rundbrief.delivery.welcome import send_welcome_mails
from rundbrief.ops.worker import CHORES, periodic_chores
from tests.support.smtp import SmtpServer

State = WelcomeDelivery.State


@pytest.fixture
def welcome_inbox(settings, topics):
    """A capture server as the campaign transport, and a German and an English welcome text, both on."""
    WelcomeMail.objects.create(language="de", subject="Willkommen bei Musterhaus", body="Schön, dass Sie da sind.")
    WelcomeMail.objects.create(language="en", subject="Welcome to Musterhaus", body="Good to have you with us.")
    settings.SITE_URL = "http://news.musterhaus.example"
    with SmtpServer() as server:
        settings.DELIVERY_SMTP_URLS = [server.url]
        yield server


def sign_up(address, *, language="de", topics=("finanznachrichten",)):
    actions.request_subscription(
        address, consent_text=ConsentText.current(language), topics=topics, language=language, source="test"
    )
    return Subscriber.objects.get(email=address)


def confirm(subscriber):
    subscriber.refresh_from_db()
    token = tokens.make_token(tokens.CONFIRM, subscriber.public_id, subscriber.confirm_nonce)
    return actions.confirm_subscription(token, source="test")


def reader(address, **kwargs):
    return confirm(sign_up(address, **kwargs))


def welcomes(server):
    """The welcome mails among what the server received (the sign-up's own mail goes to SMTP_URL)."""
    return [m.mail for m in server.messages]


def test_a_confirmed_reader_gets_one_welcome_mail_in_her_language_with_the_footer_and_one_click_unsubscribe(
    welcome_inbox,
):
    erika = reader("erika@example.de")
    jane = reader("jane@example.org", language="en")
    assert welcomes(welcome_inbox) == []  # nothing leaves in the confirming request
    assert periodic_chores() is None and send_welcome_mails in CHORES  # the worker's chore sends it

    assert [m.mail_from for m in welcome_inbox.messages] == ["newsletter@musterhaus.example"] * 2  # no VERP
    mails = {m["To"]: m for m in welcomes(welcome_inbox)}
    assert sorted(mails) == ["erika@example.de", "jane@example.org"]
    german, english = mails["erika@example.de"], mails["jane@example.org"]
    assert german["Subject"] == "Willkommen bei Musterhaus"
    assert english["Subject"] == "Welcome to Musterhaus"
    german_text = german.get_body(("plain",)).get_content()
    english_text = english.get_body(("plain",)).get_content()
    assert "Schön, dass Sie da sind." in german_text
    assert "Newsletter abbestellen" in german_text and "Finanznachrichten" in german_text
    assert "Unsubscribe from the newsletter" in english_text and "Good to have you with us." in english_text
    assert '<html lang="en">' in english.get_body(("html",)).get_content()
    # A welcome mail has no web version: no empty "view in the browser" link at its top.
    assert "Im Browser ansehen" not in german_text + german.get_body(("html",)).get_content()
    for mail, subscriber, prefix in ((german, erika, ""), (english, jane, "/en")):
        unsubscribe = mail["List-Unsubscribe"]
        # Under her language's prefix: the page it opens speaks her language.
        assert unsubscribe.startswith(f"<http://news.musterhaus.example{prefix}/u/") and "mailto:" not in unsubscribe
        assert unsubscribe.strip("<>") in mail.get_body(("plain",)).get_content()  # the footer's link is hers
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert mail["List-Id"] and mail["Message-ID"].startswith("<rb.welcome.")
        assert mail["From"] == "Musterhaus Edelmetalle <newsletter@musterhaus.example>"  # CAMPAIGN_FROM_*
        row = WelcomeDelivery.objects.get(subscriber=subscriber)
        assert (row.state, row.message_id) == (State.SENT, mail["Message-ID"]) and row.sent_at is not None


def test_the_one_click_unsubscribe_of_a_welcome_mail_withdraws_her_consent(welcome_inbox, client):
    erika = reader("erika@example.de")
    send_welcome_mails()
    (mail,) = welcomes(welcome_inbox)
    url = mail["List-Unsubscribe"].strip("<>").removeprefix("http://news.musterhaus.example")
    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    erika.refresh_from_db()
    assert erika.status == Subscriber.Status.WITHDRAWN


def test_running_the_chore_again_sends_no_second_welcome_even_after_its_lease_ran_out(welcome_inbox):
    reader("erika@example.de")
    assert send_welcome_mails() == 1
    WelcomeDelivery.objects.update(lease_until=timezone.now())  # as if the claim were long over
    assert send_welcome_mails() == 0
    periodic_chores()
    assert len(welcomes(welcome_inbox)) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_chore_at_once_send_every_welcome_once(welcome_inbox):
    addresses = [f"leser{i}@example.de" for i in range(30)]
    for address in addresses:
        reader(address)
    errors = []

    def chore():
        try:
            send_welcome_mails(limit=7)  # small claims, so that the two workers take turns
            send_welcome_mails(limit=7)
            send_welcome_mails()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=chore) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(m["To"] for m in welcomes(welcome_inbox)) == sorted(addresses)
    assert WelcomeDelivery.objects.filter(state=State.SENT).count() == 30


def test_a_reader_who_withdraws_before_the_welcome_leaves_gets_none(welcome_inbox):
    erika = reader("erika@example.de")
    actions.withdraw_consent(erika, source="test")
    send_welcome_mails()
    assert welcomes(welcome_inbox) == []
    row = WelcomeDelivery.objects.get(subscriber=erika)
    assert (row.state, row.last_reply) == (State.SKIPPED, "consent withdrawn")


def test_a_reader_suppressed_before_the_welcome_leaves_gets_none(welcome_inbox):
    erika = reader("erika@example.de")
    actions.suppress_address("erika@example.de", reason="manual", source="test")
    send_welcome_mails()
    assert welcomes(welcome_inbox) == []
    assert WelcomeDelivery.objects.get(subscriber=erika).state == State.SKIPPED


def test_consent_is_read_again_right_before_the_smtp_transaction(welcome_inbox, monkeypatch):
    """Withdrawn after the worker claimed and built the mail, before MAIL FROM: nothing leaves."""
    erika = reader("erika@example.de")
    built = welcome.WelcomeSender._compiled

    def compiled_then_withdrawn(sender, subscriber):
        compiled = built(sender, subscriber)
        actions.withdraw_consent(subscriber, source="test")
        return compiled

    monkeypatch.setattr(welcome.WelcomeSender, "_compiled", compiled_then_withdrawn)
    send_welcome_mails()
    assert welcomes(welcome_inbox) == []
    assert WelcomeDelivery.objects.get(subscriber=erika).state == State.SKIPPED


def test_a_welcome_mail_switched_off_is_not_sent(welcome_inbox):
    WelcomeMail.objects.filter(language="de").update(enabled=False)
    erika = reader("erika@example.de")
    send_welcome_mails()
    assert welcomes(welcome_inbox) == []
    assert not WelcomeDelivery.objects.filter(subscriber=erika).exists()  # none was owed


def test_switching_the_welcome_off_stops_the_ones_not_yet_sent(welcome_inbox):
    erika = reader("erika@example.de")
    WelcomeMail.objects.filter(language="de").update(enabled=False)
    send_welcome_mails()
    assert welcomes(welcome_inbox) == []
    assert WelcomeDelivery.objects.get(subscriber=erika).state == State.SKIPPED


def test_without_a_text_for_her_language_she_gets_the_german_text_in_an_english_layout(welcome_inbox):
    WelcomeMail.objects.filter(language="en").delete()
    reader("jane@example.org", language="en")
    send_welcome_mails()
    (mail,) = welcomes(welcome_inbox)
    assert mail["Subject"] == "Willkommen bei Musterhaus"
    assert "Unsubscribe from the newsletter" in mail.get_body(("plain",)).get_content()


def test_imported_confirmed_subscribers_get_no_welcome(welcome_inbox, tmp_path):
    path = tmp_path / "kunden.csv"
    now = timezone.now().isoformat()
    path.write_text(
        "email,topics,consented_at,confirmed_at,source,ip,consent_text_version\n"
        f"kunde@example.de,finanznachrichten,{now},{now},Messe,203.0.113.77,de:1\n",
        encoding="utf-8",
    )
    call_command("import-subscribers", str(path), "--consent-basis", "Anmeldeliste der Messe", stdout=io.StringIO())
    assert Subscriber.objects.get(email="kunde@example.de").status == Subscriber.Status.CONFIRMED
    send_welcome_mails()
    assert welcomes(welcome_inbox) == []
    assert not WelcomeDelivery.objects.exists()


def test_a_reader_who_confirms_again_after_withdrawing_is_welcomed_only_once(welcome_inbox):
    erika = reader("erika@example.de")
    send_welcome_mails()
    actions.withdraw_consent(erika, source="test")
    actions.request_subscription(
        "erika@example.de", consent_text=ConsentText.current("de"), topics=("finanznachrichten",), source="test"
    )
    confirm(erika)
    send_welcome_mails()
    assert len(welcomes(welcome_inbox)) == 1


def test_a_refused_welcome_is_tried_again_later_and_a_rejected_one_given_up(welcome_inbox):
    erika = reader("erika@example.de")
    welcome_inbox.faults.on_rcpt = lambda n: "451 4.7.1 try again later"
    send_welcome_mails()
    row = WelcomeDelivery.objects.get(subscriber=erika)
    assert (row.state, row.attempts) == (State.WAITING, 1) and row.lease_until > timezone.now()
    assert send_welcome_mails() == 0  # not due before its back-off
    WelcomeDelivery.objects.filter(pk=row.pk).update(lease_until=timezone.now())
    welcome_inbox.faults.on_rcpt = lambda n: "550 5.1.1 no such user"
    send_welcome_mails()
    row.refresh_from_db()
    assert (row.state, row.attempts) == (State.FAILED, 2) and welcomes(welcome_inbox) == []


def test_erasure_removes_her_welcome_row(welcome_inbox):
    erika = reader("erika@example.de")
    send_welcome_mails()
    actions.erase_subscriber(erika, source="test")
    assert not WelcomeDelivery.objects.exists()


def test_the_demo_has_a_german_and_an_english_welcome_mail_switched_on_and_keeps_an_editors_text(db):
    out = io.StringIO()
    call_command("load-demo", stdout=out)
    assert "welcome mails added: de, en" in out.getvalue()
    texts = {w.language: w for w in WelcomeMail.objects.all()}
    assert sorted(texts) == ["de", "en"] and all(w.enabled for w in texts.values())
    assert "Musterhaus Edelmetalle" in texts["de"].subject and "Welcome" in texts["en"].subject
    WelcomeMail.objects.filter(language="de").update(subject="Hallo!", enabled=False)
    call_command("load-demo", stdout=io.StringIO())
    assert WelcomeMail.objects.filter(language="de", subject="Hallo!", enabled=False).exists()


def test_the_admin_edits_previews_and_switches_off_a_welcome_text_and_shows_when_she_got_hers(
    welcome_inbox, admin_client
):
    german = WelcomeMail.objects.get(language="de")
    page = admin_client.get(f"/admin/campaigns/welcomemail/{german.pk}/preview/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Schön, dass Sie da sind." in html and "Newsletter abbestellen" in html and "%%RB:" not in html
    response = admin_client.post(
        f"/admin/campaigns/welcomemail/{german.pk}/change/",
        {"language": "de", "subject": "Herzlich willkommen", "preheader": "", "body": "Neu hier?"},
    )
    assert response.status_code == 302
    german.refresh_from_db()
    assert (german.subject, german.enabled) == ("Herzlich willkommen", False)  # unchecked box: switched off

    WelcomeMail.objects.filter(pk=german.pk).update(enabled=True)
    erika = reader("erika@example.de")
    listing = admin_client.get("/admin/audience/subscriber/").content.decode()
    assert "Willkommensmail gesendet" in listing and "wartet" in listing
    send_welcome_mails()
    sent_at = timezone.localtime(WelcomeDelivery.objects.get(subscriber=erika).sent_at)
    detail = admin_client.get(f"/admin/audience/subscriber/{erika.pk}/change/").content.decode()
    assert sent_at.strftime("%d.%m.%Y %H:%M") in detail


def test_her_data_export_names_her_welcome_mail(welcome_inbox):
    erika = reader("erika@example.de")
    send_welcome_mails()
    row = WelcomeDelivery.objects.get(subscriber=erika)
    assert export_subscriber(erika)["welcome_mail"] == {"state": "sent", "sent_at": row.sent_at.isoformat()}
