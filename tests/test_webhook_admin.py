"""Webhooks in the admin: an endpoint added (its secret shown once), a test event sent, the delivery log
replayed. German by default."""

import pytest

from rundbrief.webhooks import events
from rundbrief.webhooks.models import Endpoint, WebhookMessage
from rundbrief.webhooks.sender import deliver_webhooks
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.django_db


def test_an_added_endpoint_shows_its_secret_once(admin_client):
    response = admin_client.post(
        "/admin/webhooks/endpoint/add/",
        {
            "url": "https://shop.example.com/hooks",
            "description": "Shop",
            "events": ["subscription.withdrawn"],
            "active": "on",
        },
    )
    page = response.content.decode()
    endpoint = Endpoint.objects.get()
    assert response.status_code == 200 and endpoint.secret in page
    assert "nur jetzt angezeigt" in page  # German by default
    assert endpoint.events == ["subscription.withdrawn"] and endpoint.active
    for path in ("/admin/webhooks/endpoint/", f"/admin/webhooks/endpoint/{endpoint.pk}/change/"):
        later = admin_client.get(path)
        assert later.status_code == 200 and endpoint.secret not in later.content.decode()


def test_the_form_refuses_a_url_that_is_not_http(admin_client):
    response = admin_client.post("/admin/webhooks/endpoint/add/", {"url": "javascript:alert(1)", "active": "on"})
    assert response.status_code == 200 and "http:// oder https://" in response.content.decode()
    assert not Endpoint.objects.exists()


def test_test_event_and_replay_from_the_delivery_log(admin_client):
    with Receiver() as receiver:
        admin_client.post("/admin/webhooks/endpoint/add/", {"url": receiver.url, "active": "on"})
        endpoint = Endpoint.objects.get()
        response = admin_client.post(
            "/admin/webhooks/endpoint/", {"action": "send_test", "_selected_action": [endpoint.pk]}, follow=True
        )
        assert "HTTP 200" in response.content.decode()
        events.emit("subscription.confirmed", {"subscriber": "p1"})
        deliver_webhooks()
        log = admin_client.get(f"/admin/webhooks/webhookmessage/?endpoint__id__exact={endpoint.pk}")
        assert log.status_code == 200
        confirmed = WebhookMessage.objects.get(event_type="subscription.confirmed")
        assert confirmed.msg_id in log.content.decode()
        detail = admin_client.get(f"/admin/webhooks/webhookmessage/{confirmed.pk}/change/").content.decode()
        assert "200" in detail and confirmed.payload.replace('"', "&quot;") in detail
        admin_client.post(
            "/admin/webhooks/webhookmessage/", {"action": "replay", "_selected_action": [confirmed.pk]}, follow=True
        )
        deliver_webhooks()
        ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert ids.count(confirmed.msg_id) == 2
    assert [r.verified(endpoint.secret)["type"] for r in receiver.requests] == [
        "webhook.test",
        "subscription.confirmed",
        "subscription.confirmed",
    ]
