"""A shop's checkout with the newsletter box ticked: `POST /api/v1/subscriptions` with the shop's
sign-up token starts the double opt-in, and the shop is the recorded source from the request to the
proof (docs/api.md, "From a shop's checkout")."""

import json

import pytest
from django.contrib.auth.models import Permission, User

from rundbrief.api.actions import issue_api_token
from rundbrief.audience.models import ConsentText, Subscriber
from tests.support.smtp import path_of


@pytest.fixture
def shop(db):
    """The Musterhaus web shop's token: it may sign people up, nothing else."""
    _record, token = issue_api_token("musterhaus-shop")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_checkout_sign_up_is_mailed_confirmed_and_proven_with_the_shop_as_source(
    client, shop, smtp_inbox, topics, django_capture_on_commit_callbacks
):
    body = {
        "email": "kundin@example.org",
        "consent_text_version": ConsentText.current("de").version,
        "topics": ["sonderangebote"],
        "language": "de",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/subscriptions",
            json.dumps(body),
            content_type="application/json",
            REMOTE_ADDR="203.0.113.40",
            HTTP_USER_AGENT="Mozilla/5.0 (Kasse)",
            **shop,
        )
    assert response.status_code == 202
    kundin = Subscriber.objects.get(email="kundin@example.org")
    assert kundin.status == Subscriber.Status.PENDING  # nobody is subscribed before the link (UWG §7(2) Nr. 2)
    requested = kundin.consent_events.get(kind="requested")
    assert requested.source == "api:musterhaus-shop"
    assert requested.evidence.user_agent == "Mozilla/5.0 (Kasse)"

    (mail,) = smtp_inbox.mails
    assert mail["To"] == "kundin@example.org"
    link = next(path_of(u) for u in smtp_inbox.links(mail) if "/bestaetigen/" in u)
    assert client.post(link).status_code == 200
    kundin.refresh_from_db()
    assert kundin.status == Subscriber.Status.CONFIRMED
    assert list(kundin.subscriptions.values_list("topic__slug", flat=True)) == ["sonderangebote"]

    officer = User.objects.create_user("datenschutz", password="pw-long-enough-1", is_staff=True)
    officer.user_permissions.set(Permission.objects.filter(codename="view_subscriber"))
    client.force_login(officer)
    proof = client.get(f"/admin/audience/subscriber/{kundin.pk}/proof/").content.decode()
    assert "<td>api:musterhaus-shop</td>" in proof and "<td>web:confirm-page</td>" in proof
