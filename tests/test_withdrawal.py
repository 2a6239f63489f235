"""Withdrawal is as easy as consent (GDPR Art. 7(3)): one-click unsubscribe (RFC 8058) and the preference centre."""

import json

import pytest
from django.test import Client

from rundbrief.audience import actions, tokens
from rundbrief.audience.models import ConsentEvent, ConsentText, Subscriber
from tests.support.smtp import path_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def berta(topics):
    """A confirmed reader of all three topics."""
    outcome = actions.request_subscription("berta@example.de", consent_text=ConsentText.current("de"), source="test")
    subscriber = outcome.subscriber
    subscriber.refresh_from_db()
    actions.confirm_subscription(tokens.make_token(tokens.CONFIRM, subscriber.public_id, subscriber.confirm_nonce))
    subscriber.refresh_from_db()
    return subscriber


@pytest.fixture
def strict_client():
    """No cookies, CSRF checks on: what a mailbox provider's one-click POST looks like."""
    return Client(enforce_csrf_checks=True)


def unsubscribe_url(subscriber, prefix=""):
    return f"{prefix}/u/{tokens.make_token(tokens.UNSUBSCRIBE, subscriber.public_id)}"


@pytest.mark.parametrize("prefix", ["", "/en"])
def test_one_click_post_urlencoded_withdraws_without_cookie_login_or_csrf(strict_client, berta, prefix):
    """RFC 8058 §3.1: body List-Unsubscribe=One-Click; 200, not a redirect; works with and without /en/."""
    response = strict_client.post(
        unsubscribe_url(berta, prefix), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    berta.refresh_from_db()
    assert berta.status == Subscriber.Status.WITHDRAWN
    assert ConsentEvent.objects.filter(kind="withdrawn", subscriber=berta).count() == 1


def test_one_click_post_as_multipart_withdraws(strict_client, berta):
    """RFC 8058 allows multipart/form-data as well."""
    response = strict_client.post(unsubscribe_url(berta), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    berta.refresh_from_db()
    assert berta.status == Subscriber.Status.WITHDRAWN


def test_get_on_the_unsubscribe_link_shows_one_button_and_changes_nothing(client, berta):
    """Link checkers follow GET; only the POST withdraws."""
    response = client.get(unsubscribe_url(berta))
    assert response.status_code == 200
    assert response.content.decode().count("<button") == 2  # the page's one button, plus the site search
    assert 'name="List-Unsubscribe" value="One-Click"' in response.content.decode()
    berta.refresh_from_db()
    assert berta.status == Subscriber.Status.CONFIRMED


def test_a_forged_or_unknown_unsubscribe_token_is_a_404_and_changes_nothing(strict_client, berta):
    """Tampered signature, a token for nobody, or garbage: 404 page, consent untouched."""
    good = unsubscribe_url(berta)
    nobody = f"/u/{tokens.make_token(tokens.UNSUBSCRIBE, 'f' * 32)}"
    for url in (good[:-2] + "xx", nobody, "/u/garbage-token-value"):
        assert strict_client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 404
    berta.refresh_from_db()
    assert berta.status == Subscriber.Status.CONFIRMED


def test_a_post_without_the_one_click_body_withdraws_nothing(strict_client, berta):
    """The body is what distinguishes a deliberate one-click from a stray POST (RFC 8058 §3.1)."""
    assert strict_client.post(unsubscribe_url(berta), {"something": "else"}).status_code == 400
    berta.refresh_from_db()
    assert berta.status == Subscriber.Status.CONFIRMED


def test_withdrawal_keeps_the_history_and_a_second_click_writes_nothing(strict_client, berta):
    """Art. 7(3): effect for the future; earlier events stay; unsubscribing twice is harmless."""
    url = unsubscribe_url(berta)
    strict_client.post(url, {"List-Unsubscribe": "One-Click"})
    strict_client.post(url, {"List-Unsubscribe": "One-Click"})
    kinds = list(ConsentEvent.objects.filter(subscriber=berta).values_list("kind", flat=True))
    assert kinds == ["requested", "confirmed", "withdrawn"]


def test_the_preference_centre_changes_topics_and_records_them(client, berta):
    """Topics are chosen behind a signed link, no login; the change goes into the ledger."""
    url = f"/p/{tokens.make_token(tokens.PREFERENCES, berta.public_id)}"
    assert client.get(url).status_code == 200
    response = client.post(url, {"action": "save", "topics": ["produktneuheiten", "sonderangebote"]})
    assert response.status_code == 303
    assert sorted(berta.subscriptions.values_list("topic__slug", flat=True)) == ["produktneuheiten", "sonderangebote"]
    event = ConsentEvent.objects.filter(kind="topics_changed").get()
    assert event.topics == ["produktneuheiten", "sonderangebote"]


def test_the_preference_centre_withdraws_everything_in_one_click(client, berta):
    """One button, no reasons asked."""
    url = f"/p/{tokens.make_token(tokens.PREFERENCES, berta.public_id)}"
    assert client.post(url, {"action": "withdraw"}).status_code == 303
    berta.refresh_from_db()
    assert berta.status == Subscriber.Status.WITHDRAWN


def test_a_data_export_is_mailed_as_an_expiring_link_to_the_address_itself(
    client, berta, smtp_inbox, django_capture_on_commit_callbacks
):
    """GDPR Art. 15/20: the response shows no data; the mailed link serves JSON."""
    url = f"/p/{tokens.make_token(tokens.PREFERENCES, berta.public_id)}"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"action": "export"})
    assert "berta@example.de" not in response.content.decode()
    (mail,) = smtp_inbox.mails
    assert mail["To"] == "berta@example.de"
    link = next(path_of(u) for u in smtp_inbox.links(mail) if "/d/" in u)
    download = client.get(link)
    assert download.status_code == 200 and download["Content-Type"].startswith("application/json")
    data = json.loads(download.content)
    assert data["profile"]["email"] == "berta@example.de"
    assert [e["kind"] for e in data["ledger"]] == ["requested", "confirmed"]
    assert data["deliveries"] == [] and data["bounces"] == []


def test_thirty_export_requests_send_at_most_the_hourly_limit(
    client, berta, smtp_inbox, django_capture_on_commit_callbacks, settings, one_rate_window
):
    """A forwarded /p/ link must not become a way to fill someone's mailbox."""
    settings.RUNDBRIEF_EXPORT_MAILS_PER_HOUR = 3
    url = f"/p/{tokens.make_token(tokens.PREFERENCES, berta.public_id)}"
    for _ in range(30):
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(url, {"action": "export"}).status_code == 303  # back to the page (PRG)
    assert len(smtp_inbox.mails) == 3
    page = client.get(client.post(url, {"action": "export"})["Location"]).content.decode()
    assert "Kein neuer Download-Link" in page  # it does not claim a mail it did not send


def test_no_export_mail_goes_to_a_suppressed_address(client, berta, smtp_inbox, django_capture_on_commit_callbacks):
    from rundbrief.audience.addresses import subject_hash
    from rundbrief.audience.models import Suppression

    Suppression.objects.create(address_hash=subject_hash(berta.email), reason="bounced")
    url = f"/p/{tokens.make_token(tokens.PREFERENCES, berta.public_id)}"
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"action": "export"}).status_code == 303
    assert smtp_inbox.mails == []
