"""Operators' endpoints: /healthz, /readyz and /metrics (docs/operations.md)."""

import datetime as dt

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from rundbrief.audience import actions
from rundbrief.audience.models import ConsentText
from rundbrief.delivery.models import Delivery
from rundbrief.ops.models import DeliveryAggregate
from tests.support.campaigns import make_audience, scheduled_campaign
from tests.support.ports import free_port
from tests.support.smtp import SmtpServer


def samples(response):
    values = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_healthz_answers_without_touching_the_database(client):
    """No django_db mark: any query would raise."""
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_200_when_database_and_smtp_answer_and_503_when_smtp_is_down(client, settings):
    with SmtpServer() as server:
        settings.DELIVERY_SMTP_URLS = [server.url]
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "smtp": "ok", "disk": "ok"}
    settings.DELIVERY_SMTP_URLS = [f"smtp://127.0.0.1:{free_port()}"]
    down = client.get("/readyz")
    assert down.status_code == 503
    # Which check failed, not why: the driver's and the host's words are for the log, not the public.
    assert down.json() == {"status": "unavailable", "database": "ok", "smtp": "unavailable", "disk": "ok"}
    assert "127.0.0.1" not in down.content.decode()


@pytest.mark.django_db
def test_readyz_is_503_when_the_disk_is_nearly_full(client, settings):
    with SmtpServer() as server:
        settings.DELIVERY_SMTP_URLS = [server.url]
        settings.RUNDBRIEF_MIN_FREE_DISK_MB = 10**12  # more than any disk here has free
        down = client.get("/readyz")
    assert down.status_code == 503 and down.json()["disk"] == "unavailable"


@pytest.mark.django_db  # the 404 page shows the site's header
def test_probes_have_no_language_prefix_and_need_no_login(client):
    assert client.get("/en/healthz").status_code == 404
    assert client.get("/healthz", HTTP_ACCEPT_LANGUAGE="en").status_code == 200


@pytest.mark.django_db
def test_metrics_report_deliveries_queue_subscribers_and_consent_events(client, finance, django_assert_max_num_queries):
    make_audience(finance, 5)
    campaign = scheduled_campaign([finance])
    Delivery.objects.filter(pk__in=list(Delivery.objects.values_list("pk", flat=True)[:2])).update(
        state="sent", last_reply="250 ok"
    )
    DeliveryAggregate.objects.create(campaign=campaign, state="sent", count=10)
    actions.request_subscription("neu@example.de", consent_text=ConsentText.current("de"), source="test")
    with django_assert_max_num_queries(16):  # one a figure; the webhooks' queue and endpoints are two of them
        response = client.get("/metrics")
    assert response.status_code == 200
    values = samples(response)
    c = str(campaign.pk)
    assert values[("rundbrief_deliveries", (("campaign", c), ("state", "sent")))] == 12
    assert values[("rundbrief_deliveries", (("campaign", c), ("state", "queued")))] == 3
    assert values[("rundbrief_delivery_queue_depth", ())] == 3  # the sending campaign's queued rows
    assert values[("rundbrief_webhook_endpoints", (("state", "disabled"),))] == 0
    assert values[("rundbrief_job_queue_rows", (("queue", "webhooks"), ("status", "given_up")))] == 0
    assert values[("rundbrief_delivery_last_reply", (("reply_class", "2xx"),))] == 2
    assert values[("rundbrief_subscribers", (("status", "confirmed"),))] == 5
    assert values[("rundbrief_subscribers", (("status", "pending"),))] == 1
    # Applied at once; its mail is owed until the after-commit drain, which this test's transaction never reaches.
    assert values[("rundbrief_signup_backlog", (("stage", "received"),))] == 0
    assert values[("rundbrief_signup_backlog", (("stage", "mail"),))] == 1
    assert values[("rundbrief_consent_events_total", (("kind", "requested"),))] == 1
    assert values[("rundbrief_bounce_events_total", (("kind", "complaint"),))] == 0
    assert values[("rundbrief_messages_accepted", ())] == 12
    assert "@" not in response.content.decode()


@pytest.mark.django_db
def test_metrics_report_the_job_queues_due_leased_and_given_up_rows(client, finance):
    make_audience(finance, 6)
    scheduled_campaign([finance])
    now = timezone.now()
    rows = list(Delivery.objects.order_by("pk").values_list("pk", flat=True))
    Delivery.objects.filter(pk=rows[0]).update(state="sending", worker="w", lease_until=now + dt.timedelta(minutes=1))
    Delivery.objects.filter(pk=rows[1]).update(state="sending", worker="w", lease_until=now - dt.timedelta(minutes=1))
    Delivery.objects.filter(pk=rows[2]).update(state="queued", next_attempt_at=now + dt.timedelta(minutes=5))
    Delivery.objects.filter(pk=rows[3]).update(state="failed", last_reply="451 4.3.0 try again later", attempts=5)
    Delivery.objects.filter(pk=rows[4]).update(state="failed", last_reply="550 5.1.1 no such user", attempts=1)
    actions.request_subscription("neu@example.de", consent_text=ConsentText.current("de"), source="test")
    values = samples(client.get("/metrics"))
    delivery = {
        k[1][1][1]: v for k, v in values.items() if k[0] == "rundbrief_job_queue_rows" and k[1][0][1] == "delivery"
    }
    # due: the dead worker's row and the queued one; not the row waiting for its retry
    assert delivery == {"due": 2, "leased": 1, "given_up": 1}  # the 5xx failure was not given up: it failed at once
    assert values[("rundbrief_job_queue_rows", (("queue", "signup_mail"), ("status", "due")))] == 1
    assert values[("rundbrief_job_queue_rows", (("queue", "signup_mail"), ("status", "leased")))] == 0


@pytest.mark.django_db
def test_metrics_refuse_other_addresses_unless_the_bearer_token_is_right(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert (
        client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").status_code
        == 200
    )
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    # Forwarded by someone we do not trust: the real client is unknown, so no figures.
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403


@pytest.mark.django_db
def test_metrics_behind_the_proxy_judge_the_reader_not_the_proxy(client, settings):
    """nginx on 127.0.0.1 forwards everyone: the allow-list must see the client it names."""
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1", "10.0.0.0/8"]
    settings.RUNDBRIEF_TRUSTED_PROXIES = ["127.0.0.1"]
    via_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.5", **via_proxy).status_code == 403
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.4.5.6", **via_proxy).status_code == 200
    assert client.get("/metrics", **via_proxy).status_code == 200  # Prometheus on the host itself
    settings.RUNDBRIEF_TRUSTED_PROXIES = []  # the proxy not configured: fail closed for forwarded requests
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.4.5.6", **via_proxy).status_code == 403
