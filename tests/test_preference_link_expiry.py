"""Preference-centre links (/p/) expire after RUNDBRIEF_PREFERENCE_LINK_DAYS and offer a fresh link by
mail; unsubscribe links (/u/) keep working (RFC 8058)."""

import time
import types

import pytest

from rundbrief.audience import actions, tokens
from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.models import ConsentText, Subscriber, Suppression
from tests.support.smtp import path_of

pytestmark = pytest.mark.django_db
DAY = 86400


@pytest.fixture
def berta(topics):
    """A confirmed reader."""
    subscriber = actions.request_subscription(
        "berta@example.de", consent_text=ConsentText.current("de"), source="test"
    ).subscriber
    subscriber.refresh_from_db()
    actions.confirm_subscription(tokens.make_token(tokens.CONFIRM, subscriber.public_id, subscriber.confirm_nonce))
    subscriber.refresh_from_db()
    return subscriber


def made_days_ago(monkeypatch, purpose, subscriber, days):
    with monkeypatch.context() as patch:
        patch.setattr(tokens, "time", types.SimpleNamespace(time=lambda: time.time() - days * DAY))
        return tokens.make_token(purpose, subscriber.public_id)


def test_a_preference_link_works_until_its_last_day_and_then_shows_nothing_of_the_reader(
    client, berta, settings, monkeypatch
):
    settings.RUNDBRIEF_PREFERENCE_LINK_DAYS = 90
    fresh = client.get(f"/p/{made_days_ago(monkeypatch, tokens.PREFERENCES, berta, 89)}")
    assert fresh.status_code == 200 and "b•••a@example.de" in fresh.content.decode()
    expired = client.get(f"/p/{made_days_ago(monkeypatch, tokens.PREFERENCES, berta, 91)}")
    page = expired.content.decode()
    assert expired.status_code == 410 and "Dieser Link ist abgelaufen" in page
    assert "example.de" not in page and 'name="topics"' not in page


def test_an_expired_preference_link_changes_nothing_when_posted_to(client, berta, settings, monkeypatch):
    url = f"/p/{made_days_ago(monkeypatch, tokens.PREFERENCES, berta, settings.RUNDBRIEF_PREFERENCE_LINK_DAYS + 1)}"
    client.post(url, {"action": "withdraw"})
    client.post(url, {"topics": ["finanznachrichten"]})
    berta.refresh_from_db()
    assert berta.status == Subscriber.Status.CONFIRMED
    assert berta.subscriptions.count() == 3


def test_an_unsubscribe_link_years_old_still_withdraws_in_one_click(client, berta, monkeypatch):
    url = f"/u/{made_days_ago(monkeypatch, tokens.UNSUBSCRIBE, berta, 3 * 365)}"
    assert client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200
    berta.refresh_from_db()
    assert berta.status == Subscriber.Status.WITHDRAWN


def test_the_expired_page_mails_a_fresh_link_to_the_address_and_the_fresh_link_works(
    client, berta, settings, monkeypatch, smtp_inbox, django_capture_on_commit_callbacks
):
    url = f"/p/{made_days_ago(monkeypatch, tokens.PREFERENCES, berta, settings.RUNDBRIEF_PREFERENCE_LINK_DAYS + 1)}"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"action": "fresh-link"})
    assert response.status_code == 303
    assert "neuen Link" in client.get(response["Location"]).content.decode()
    (mail,) = smtp_inbox.mails
    assert mail["To"] == "berta@example.de"
    link = next(path_of(u) for u in smtp_inbox.links(mail) if "/p/" in u)
    assert client.get(link).status_code == 200


def test_fresh_links_are_limited_per_hour_and_never_mailed_to_a_suppressed_address(
    client, berta, settings, monkeypatch, smtp_inbox, django_capture_on_commit_callbacks
):
    settings.RUNDBRIEF_EXPORT_MAILS_PER_HOUR = 2
    url = f"/p/{made_days_ago(monkeypatch, tokens.PREFERENCES, berta, settings.RUNDBRIEF_PREFERENCE_LINK_DAYS + 1)}"
    for _ in range(10):
        with django_capture_on_commit_callbacks(execute=True):
            last = client.post(url, {"action": "fresh-link"})
    assert len(smtp_inbox.mails) == 2
    assert "Kein neuer Link" in client.get(last["Location"]).content.decode()

    smtp_inbox.clear()
    settings.RUNDBRIEF_EXPORT_MAILS_PER_HOUR = 1000
    Suppression.objects.create(address_hash=subject_hash(berta.email), reason="bounced")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"action": "fresh-link"})
    assert smtp_inbox.mails == []


def test_a_forged_preference_link_is_still_not_valid(client, berta):
    token = tokens.make_token(tokens.PREFERENCES, berta.public_id)
    assert client.get(f"/p/{token[:-2]}xx").status_code == 404
    assert client.post(f"/p/{token[:-2]}xx", {"action": "fresh-link"}).status_code == 404
