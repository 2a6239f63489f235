"""A link used before answers with the state it led to; a forged or unknown one stays a 404."""

import time

import pytest
from django.core import signing

from rundbrief.audience import actions, tokens
from rundbrief.audience.models import ConsentEvent, ConsentText, Subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def clara(topics):
    """A reader who asked to subscribe; her confirm link is not used yet."""
    subscriber = actions.request_subscription(
        "clara@example.de", consent_text=ConsentText.current("de"), source="test"
    ).subscriber
    subscriber.refresh_from_db()
    subscriber.confirm_link = (
        f"/newsletter/bestaetigen/{tokens.make_token(tokens.CONFIRM, subscriber.public_id, subscriber.confirm_nonce)}/"
    )
    return subscriber


def test_a_used_confirmation_link_says_already_confirmed_with_200_and_writes_nothing(client, clara):
    assert client.post(clara.confirm_link).status_code == 200
    events = ConsentEvent.objects.count()
    for response in (client.get(clara.confirm_link), client.post(clara.confirm_link)):
        html = response.content.decode()
        assert response.status_code == 200
        assert "Bereits bestätigt" in html and "/p/" in html
    assert ConsentEvent.objects.count() == events


def test_a_used_confirmation_link_of_a_reader_who_withdrew_says_so_and_offers_a_fresh_sign_up(client, clara):
    client.post(clara.confirm_link)
    actions.withdraw_consent(clara)
    response = client.get(clara.confirm_link)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Sie haben sich abgemeldet" in html and "Erneut anmelden" in html and "/p/" in html
    clara.refresh_from_db()
    assert clara.status == Subscriber.Status.WITHDRAWN  # the old link does not subscribe her again


def test_a_used_confirmation_link_older_than_its_expiry_still_tells_the_state(client, clara):
    client.post(clara.confirm_link)

    class EightDaysAgo(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - 8 * 86400)

    old = EightDaysAgo(salt="rundbrief.audience.token.confirm").sign_object({"i": clara.public_id, "n": "x"})
    assert client.get(f"/newsletter/bestaetigen/{old}/").status_code == 200


def test_a_forged_or_unknown_confirmation_link_stays_a_404(client, clara):
    client.post(clara.confirm_link)
    token = clara.confirm_link.rstrip("/").split("/")[-1]
    nobody = tokens.make_token(tokens.CONFIRM, "f" * 32, "n")
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), nobody):
        assert client.get(f"/newsletter/bestaetigen/{bad}/").status_code == 404
        assert client.post(f"/newsletter/bestaetigen/{bad}/").status_code == 404


def test_the_unsubscribe_link_after_unsubscribing_says_so_without_the_button_and_offers_a_fresh_sign_up(client, clara):
    client.post(clara.confirm_link)
    url = f"/u/{tokens.make_token(tokens.UNSUBSCRIBE, clara.public_id)}"
    assert client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Sie sind abgemeldet" in html
    assert 'value="One-Click"' not in html
    assert "Erneut anmelden" in html and "/p/" in html


def test_a_forged_unsubscribe_link_stays_a_404(client, clara):
    assert client.get(f"/u/{tokens.make_token(tokens.UNSUBSCRIBE, 'f' * 32)}").status_code == 404
