"""Double opt-in (UWG §7(2) Nr. 2): sign up, the request mail over real SMTP, confirm by POST only."""

import json
import re
import time
from io import StringIO

import pytest
from django.core import signing
from django.core.management import call_command

from rundbrief.audience import actions, tokens
from rundbrief.audience.models import ConsentEvent, ConsentText, Subscriber, Suppression
from tests.support.smtp import path_of

pytestmark = pytest.mark.django_db
ANNA = "Anna.Becker@Example.DE"


def confirm_path(inbox, index=-1):
    return next(path_of(u) for u in inbox.links(inbox.mails[index]) if "/bestaetigen/" in u)


def test_whole_flow_from_sign_up_to_one_click_unsubscribe_tells_a_verifiable_story(
    client, sign_up, smtp_inbox, topics, django_capture_on_commit_callbacks
):
    """Sign-up, mail, GET (still pending), POST confirm, topics, one-click unsubscribe in both encodings, proof."""
    response = sign_up(ANNA)
    assert response.status_code == 200
    assert (
        "Please confirm via the e-mail we sent" in response.content.decode()
        or "Bitte bestätigen" in response.content.decode()
    )
    assert len(smtp_inbox.mails) == 1
    mail = smtp_inbox.mails[0]
    assert mail["To"] == "anna.becker@example.de"
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.PENDING

    link = confirm_path(smtp_inbox)
    assert client.get(link).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PENDING, "a GET (mail scanner) must not confirm"

    response = client.post(link, REMOTE_ADDR="198.51.100.23", HTTP_USER_AGENT="Mozilla/5.0 (Phone)")
    assert response.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED

    prefs = re.search(r'href="(/p/[^"]+)"', response.content.decode()).group(1)
    response = client.post(prefs, {"action": "save", "topics": ["finanznachrichten"]})
    assert response.status_code == 303  # post/redirect/get: a reload shows the stored state
    assert list(subscriber.subscriptions.values_list("topic__slug", flat=True)) == ["finanznachrichten"]

    unsubscribe = f"/u/{tokens.make_token(tokens.UNSUBSCRIBE, subscriber.public_id)}"
    assert (
        client.post(
            unsubscribe, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        ).status_code
        == 200
    )
    assert client.post(unsubscribe, {"List-Unsubscribe": "One-Click"}).status_code == 200  # multipart
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.WITHDRAWN

    out = StringIO()
    call_command("consent", "verify", stdout=out)
    assert out.getvalue().strip() == f"chain intact: {ConsentEvent.objects.count()} events"
    out = StringIO()
    call_command("consent", "proof", "anna.becker@example.de", stdout=out)
    proof = json.loads(out.getvalue())
    assert [e["kind"] for e in proof["events"]] == [
        "requested",
        "confirmation_sent",
        "confirmed",
        "topics_changed",
        "withdrawn",
    ]
    shown = proof["consent_texts_shown"][0]
    assert shown["version"] == 1 and len(shown["sha256"]) == 64 and "Abschicken" in shown["text"]
    assert proof["requested"]["source"].endswith("/artikel/gold-rekord/")
    assert proof["requested"]["ip"] == "203.0.113.0"
    assert proof["confirmation_sent"]["message_id"] == mail["Message-ID"]
    assert proof["confirmed"]["ip"] == "198.51.100.0" and proof["confirmed"]["user_agent"] == "Mozilla/5.0 (Phone)"
    assert proof["topic_changes"][0]["topics"] == ["finanznachrichten"]
    assert proof["withdrawn"]["source"] == "web:one-click-unsubscribe"
    assert proof["ledger"]["intact"] is True


def test_request_mail_is_neutral_multipart_and_in_the_language_of_the_request(sign_up, smtp_inbox, topics):
    """English under /en/: text and HTML, confirm link, ignore hint, deletion after 7 days, privacy + imprint."""
    from rundbrief.newsroom.models import SiteProfile

    SiteProfile.objects.update_or_create(pk=1, defaults={"privacy_url": "/datenschutz/", "imprint_url": "/impressum/"})
    sign_up("reader@example.com", prefix="/en", language="en")
    mail = smtp_inbox.mails[0]
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert mail["Subject"] == "Please confirm your newsletter subscription"
    assert "ignore this e-mail" in text and "deleted after 7 days" in text
    assert "http://news.musterhaus.example/datenschutz/" in text and "http://news.musterhaus.example/impressum/" in text
    assert "/en/newsletter/bestaetigen/" in text and "/en/newsletter/bestaetigen/" in html
    assert "<img" not in html, "no tracking pixel"
    assert mail["Message-ID"].endswith("@news.musterhaus.example>")


def test_no_email_address_appears_in_any_link(sign_up, smtp_inbox, topics):
    """Links carry a signed opaque id, never the address."""
    sign_up("geheim.adresse@example.org")
    for url in smtp_inbox.links(smtp_inbox.mails[0]):
        assert "geheim" not in signing.b64_decode(url.split("/")[-2].split(":")[0].encode()).decode(errors="replace")
        assert "geheim" not in url


def test_confirm_link_works_once(client, sign_up, smtp_inbox, topics):
    """After the POST that confirms, the same link only says "already confirmed" (200) and writes nothing."""
    sign_up(ANNA)
    link = confirm_path(smtp_inbox)
    assert client.post(link).status_code == 200
    events = ConsentEvent.objects.count()
    for again in (client.post(link), client.get(link)):
        assert again.status_code == 200 and "Bereits bestätigt" in again.content.decode()
    assert ConsentEvent.objects.count() == events


def test_confirm_link_expires_after_7_days(client, sign_up, smtp_inbox, topics):
    """A confirm token signed eight days ago is refused with 404; the subscriber stays pending."""
    sign_up(ANNA)
    subscriber = Subscriber.objects.get()

    class EightDaysAgo(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - 8 * 86400)

    payload = {"i": subscriber.public_id, "n": subscriber.confirm_nonce}
    old = EightDaysAgo(salt="rundbrief.audience.token.confirm").sign_object(payload)
    assert client.post(f"/newsletter/bestaetigen/{old}/").status_code == 404
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PENDING


def test_tampered_token_is_a_404_and_changes_nothing(client, sign_up, smtp_inbox, topics):
    """One changed character in the signature or payload makes the link worthless."""
    sign_up(ANNA)
    link = confirm_path(smtp_inbox)
    token = link.rstrip("/").split("/")[-1]
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), "x" + token[1:], token + "x"):
        assert client.post(f"/newsletter/bestaetigen/{bad}/").status_code == 404
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING


def test_a_token_made_for_another_purpose_opens_nothing_else(client, sign_up, smtp_inbox, topics):
    """Per-purpose salts: an unsubscribe or preference token cannot confirm, a confirm token cannot unsubscribe."""
    sign_up(ANNA)
    subscriber = Subscriber.objects.get()
    for purpose in (tokens.UNSUBSCRIBE, tokens.PREFERENCES, tokens.EXPORT):
        forged = tokens.make_token(purpose, subscriber.public_id, subscriber.confirm_nonce)
        assert client.post(f"/newsletter/bestaetigen/{forged}/").status_code == 404
    confirm_token = confirm_path(smtp_inbox).rstrip("/").split("/")[-1]
    assert client.post(f"/u/{confirm_token}", {"List-Unsubscribe": "One-Click"}).status_code == 404
    assert client.get(f"/p/{confirm_token}").status_code == 404
    assert client.get(f"/d/{confirm_token}").status_code == 404
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING


def test_links_signed_with_a_retired_secret_key_work_through_secret_key_fallbacks(
    client, settings, sign_up, smtp_inbox, topics
):
    """Rotating SECRET_KEY with the old key in SECRET_KEY_FALLBACKS keeps mailed links working."""
    settings.RUNDBRIEF_HASH_KEY = "fixed-so-suppression-survives-rotation"
    sign_up(ANNA)
    link = confirm_path(smtp_inbox)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-key-" + "x" * 40
    assert client.post(link).status_code == 200
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED


def test_confirmed_double_opt_in_lifts_the_suppression_left_by_erasure(client, sign_up, smtp_inbox, topics):
    """Erasure suppresses the address; a new sign-up gets a mail, and confirming removes the suppression."""
    sign_up(ANNA)
    client.post(confirm_path(smtp_inbox))
    actions.erase_subscriber(Subscriber.objects.get(), source="test")
    assert Suppression.objects.count() == 1
    sign_up(ANNA)
    assert len(smtp_inbox.mails) == 2
    assert client.post(confirm_path(smtp_inbox)).status_code == 200
    assert Suppression.objects.count() == 0


def test_topic_checkboxes_appear_only_when_the_site_profile_switch_is_on(client, topics, make_article):
    """Unticked checkboxes beside the box, off by default; the consent text stands beside the button."""
    from rundbrief.newsroom.models import SiteProfile

    make_article(slug="gold-rekord")
    html = client.get("/artikel/gold-rekord/").content.decode()
    assert 'name="topics"' not in html
    assert re.search(r'<button type="submit">Abschicken</button>\s*<p class="consent-text"', html)
    assert 'name="website"' in html and 'name="consent_text"' in html
    profile = SiteProfile.load()
    profile.signup_topic_choice = True
    profile.save()
    html = client.get("/artikel/gold-rekord/").content.decode()
    assert html.count('type="checkbox" name="topics"') == 3 and "checked" not in html


@pytest.mark.django_db(transaction=True)  # the mail thread has its own connection: data must be committed
def test_confirmation_mail_is_sent_after_the_response_so_timing_reveals_no_address(sign_up, smtp_inbox, settings):
    from rundbrief.audience import outbox

    settings.RUNDBRIEF_SERVICE_MAIL_ASYNC = True
    response = sign_up("spaet@example.org")
    assert response.status_code == 200
    outbox.wait_until_sent()  # in production the mail threads finish on their own
    assert [m["To"] for m in smtp_inbox.mails] == ["spaet@example.org"]
    kinds = list(ConsentEvent.objects.values_list("kind", flat=True))
    assert kinds == ["requested", "confirmation_sent"]


def test_a_confirmation_mail_that_could_not_be_sent_can_be_requested_again_at_once(sign_up, smtp_inbox, settings):
    from tests.support.ports import free_port

    smtp_url = settings.SMTP_URL
    settings.SMTP_URL = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there: the mail fails
    assert sign_up("pech@example.org").status_code == 200
    assert smtp_inbox.mails == []
    settings.SMTP_URL = smtp_url
    assert sign_up("pech@example.org").status_code == 200
    assert [m["To"] for m in smtp_inbox.mails] == ["pech@example.org"]


def test_an_invalid_address_shows_the_form_again_with_its_message_and_the_page_it_came_from(client):
    response = client.post(
        "/newsletter/",
        {"email": "kaputt", "consent_text": ConsentText.current("de").pk, "page": "/artikel/gold-rekord/"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="signup-errors"' in html and 'aria-invalid="true"' in html
    assert 'name="page" value="/artikel/gold-rekord/"' in html and "Abschicken" in html
    assert not Subscriber.objects.exists()
