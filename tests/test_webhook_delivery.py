"""Webhook delivery: retried with back-off until a 2xx, at least once after a crash and exactly once
successfully, given up after 3 days, an endpoint disabled after 24 hours of failures, replay, no redirects.
The queue's clock is injected; the receiver is a real HTTP server on 127.0.0.1."""

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging

import pytest
from django.utils import timezone

from rundbrief.bounces.models import OperatorAlert
from rundbrief.webhooks import actions, events
from rundbrief.webhooks.models import Endpoint, WebhookMessage
from rundbrief.webhooks.sender import LEASE, QUEUE, deliver_webhooks, send_test_event
from tests.support.ports import free_port
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.django_db
State = WebhookMessage.State


class Clock:
    """The time the sender's queue decisions use; the test moves it."""

    def __init__(self):
        self.now = timezone.now()

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += dt.timedelta(**delta)


def one_event(endpoint_url, clock, **endpoint):
    hook = actions.add_endpoint(endpoint_url, **endpoint)
    events.emit("subscription.withdrawn", {"subscriber": "p1", "email": "erika@example.org"}, now=clock())
    return hook, WebhookMessage.objects.get()


def statuses(message):
    return [a.status_code for a in message.log.order_by("pk")]


def test_a_failed_delivery_is_retried_after_its_back_off_and_arrives_once():
    clock = Clock()
    with Receiver(answers=[500, 503]) as receiver:
        hook, message = one_event(receiver.url, clock)
        deliver_webhooks(clock=clock)  # 500
        deliver_webhooks(clock=clock)  # not due yet
        clock.advance(seconds=29)
        deliver_webhooks(clock=clock)  # still not: the first back-off is 30 s
        assert len(receiver.requests) == 1
        clock.advance(seconds=1)
        deliver_webhooks(clock=clock)  # 503; the next wait is 60 s
        clock.advance(seconds=59)
        deliver_webhooks(clock=clock)
        assert len(receiver.requests) == 2
        clock.advance(seconds=1)
        deliver_webhooks(clock=clock)  # 200
        clock.advance(hours=7)
        deliver_webhooks(clock=clock)  # nothing left
        payloads = receiver.delivered(hook.secret)
    message.refresh_from_db()
    assert message.state == State.DELIVERED and message.attempts == 3
    assert statuses(message) == [500, 503, 200]
    assert [p["type"] for p in payloads] == ["subscription.withdrawn"]
    # Every attempt carries the same id and body: the receiver's idempotency key.
    assert {r.headers["webhook-id"] for r in receiver.requests} == {message.msg_id}
    assert {r.body for r in receiver.requests} == {message.payload}
    hook.refresh_from_db()
    assert hook.active and hook.failing_since is None  # the success cleared the failure record


def test_a_worker_that_dies_after_claiming_leaves_the_message_to_the_next_after_its_lease():
    clock = Clock()
    with Receiver() as receiver:
        hook, message = one_event(receiver.url, clock)
        assert QUEUE.claim(10, LEASE, clock(), "dead-worker") == [(message.pk,)]  # …and the process is killed
        assert deliver_webhooks(clock=clock) == 0  # held under the dead worker's lease
        clock.advance(seconds=LEASE.total_seconds() + 1)
        assert deliver_webhooks(clock=clock) == 1
        clock.advance(minutes=10)
        assert deliver_webhooks(clock=clock) == 0
        assert [p["data"]["email"] for p in receiver.delivered(hook.secret)] == ["erika@example.org"]
        assert len(receiver.requests) == 1


def test_messages_behind_a_failure_wait_with_it_in_order():
    clock = Clock()
    with Receiver(answers=[500]) as receiver:
        hook = actions.add_endpoint(receiver.url)
        for n in range(3):
            events.emit("subscription.confirmed", {"subscriber": f"p{n}"}, now=clock())
        deliver_webhooks(clock=clock)
        assert len(receiver.requests) == 1  # the other two were not tried against a failing receiver
        assert set(WebhookMessage.objects.values_list("attempts", flat=True)) == {0, 1}
        clock.advance(seconds=30)
        deliver_webhooks(clock=clock)
        assert [p["data"]["subscriber"] for p in receiver.delivered(hook.secret)] == ["p0", "p1", "p2"]


def test_an_endpoint_failing_for_24_hours_is_disabled_with_an_operator_alert(caplog):
    clock = Clock()
    with Receiver(default=500) as receiver:
        hook, message = one_event(receiver.url, clock)
        started = clock()
        while clock() - started < dt.timedelta(hours=24):
            deliver_webhooks(clock=clock)
            hook.refresh_from_db()
            assert hook.active
            message.refresh_from_db()
            clock.now = message.next_attempt_at
        with caplog.at_level(logging.ERROR, logger="rundbrief.webhooks"):
            deliver_webhooks(clock=clock)
        hook.refresh_from_db()
        assert not hook.active
        assert "no successful delivery since" in hook.disabled_reason
        assert hook.failing_since == started
        assert any(r.levelno == logging.ERROR and "disabled" in r.getMessage() for r in caplog.records)
        alert = OperatorAlert.objects.get(key=f"webhook:{hook.pk}")
        assert receiver.url in alert.message
        tried = len(receiver.requests)
        clock.advance(days=1)
        assert deliver_webhooks(clock=clock) == 0  # its messages wait for the operator
        assert len(receiver.requests) == tried
        message.refresh_from_db()
        assert message.state == State.WAITING
        # The receiver is repaired and the operator switches the endpoint on again: the message goes.
        receiver.default = 200
        actions.change_endpoint(hook, url=hook.url, events=[], description="", active=True)
        hook.refresh_from_db()
        assert hook.active and hook.failing_since is None and hook.disabled_reason == ""
        clock.now = message.next_attempt_at
        assert deliver_webhooks(clock=clock) == 1
        assert [p["type"] for p in receiver.delivered(hook.secret)] == ["subscription.withdrawn"]
    # Between the first failure and 24 h the back-off grew from 30 s to its cap of 6 h.
    times = list(message.log.values_list("at", flat=True))
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert gaps[:4] == [30, 60, 120, 240] and max(gaps) == 6 * 3600


def test_a_message_is_given_up_three_days_after_its_first_attempt():
    clock = Clock()
    with Receiver(default=500) as receiver:
        hook, message = one_event(receiver.url, clock)
        WebhookMessage.objects.filter(pk=message.pk).update(series_started_at=clock() - dt.timedelta(days=3))
        deliver_webhooks(clock=clock)
    message.refresh_from_db()
    assert message.state == State.FAILED and message.next_attempt_at is None
    assert len(receiver.requests) == 1


def test_a_replayed_message_is_sent_again_with_the_same_id():
    clock = Clock()
    with Receiver() as receiver:
        hook, message = one_event(receiver.url, clock)
        deliver_webhooks(clock=clock)
        message.refresh_from_db()
        assert actions.replay_message(message)
        assert not actions.replay_message(message)  # queued already: once is enough
        deliver_webhooks(clock=clock)
        assert [r.headers["webhook-id"] for r in receiver.requests] == [message.msg_id, message.msg_id]
    message.refresh_from_db()
    assert message.state == State.DELIVERED and statuses(message) == [200, 200]


def test_redirects_are_not_followed():
    clock = Clock()
    with Receiver() as elsewhere, Receiver(default=302, redirect_to=elsewhere.url) as receiver:
        hook, message = one_event(receiver.url, clock)
        deliver_webhooks(clock=clock)
        assert not elsewhere.requests
    message.refresh_from_db()
    assert message.state == State.WAITING and statuses(message) == [302]


def test_an_unreachable_receiver_is_logged_as_an_error_without_status():
    clock = Clock()
    hook, message = one_event(f"http://127.0.0.1:{free_port()}/hook", clock)
    deliver_webhooks(clock=clock)
    attempt = WebhookMessage.objects.get().log.get()
    assert attempt.status_code is None and "Connection" in attempt.error


def test_the_signature_verifies_with_the_standard_library_alone():
    """The stdlib recipe of docs/integrations.md, against a real request."""
    with Receiver() as receiver:
        hook = actions.add_endpoint(receiver.url)
        answer = send_test_event(hook)
        request = receiver.requests[0]
    assert answer.status_code == 200
    key = base64.b64decode(hook.secret.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.{request.body}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"] == f"v1,{expected}"
    assert json.loads(request.body)["type"] == "webhook.test"
    assert request.headers["content-type"] == "application/json"
    assert Endpoint.objects.get().secret.startswith("whsec_")


def test_a_proxy_in_the_environment_is_not_used(monkeypatch):
    """Receivers are often on the LAN: requests go straight to them (docs/integrations.md)."""
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    with Receiver() as receiver:
        assert send_test_event(actions.add_endpoint(receiver.url)).status_code == 200
        assert len(receiver.requests) == 1


def test_delivered_and_given_up_messages_are_purged_after_30_days():
    clock = Clock()
    hook = actions.add_endpoint("http://127.0.0.1:9/hook")
    for state in (State.DELIVERED, State.FAILED, State.WAITING):
        events.emit("subscription.confirmed", {"subscriber": state}, now=clock() - dt.timedelta(days=31))
        WebhookMessage.objects.filter(pk=WebhookMessage.objects.latest("pk").pk).update(state=state)
    events.emit("subscription.confirmed", {"subscriber": "recent"}, now=clock() - dt.timedelta(days=29))
    WebhookMessage.objects.filter(payload__contains="recent").update(state=State.DELIVERED)
    assert actions.purge_old_messages(now=clock()) == 2
    assert sorted(WebhookMessage.objects.values_list("state", flat=True)) == [State.DELIVERED, State.WAITING]
    assert hook.messages.count() == 2
