"""Logs carry keyed hashes, never addresses or link tokens (GDPR Art. 5(1)(c), Art. 32)."""

import logging
import re

import pytest

from rundbrief.audience import tokens
from rundbrief.audience.models import Subscriber
from rundbrief.ops.logs import ADDRESS, make_formatter, parse_lines, scrub
from tests.support.campaigns import make_audience, scheduled_campaign
from tests.support.smtp import Faults, SmtpServer, path_of
from tests.support.workers import run_worker

TOKENISH = re.compile(r"[A-Za-z0-9_\-]{4,}(?::[A-Za-z0-9_\-]{4,}){1,3}:[A-Za-z0-9_\-]{20,}")


@pytest.mark.django_db(transaction=True)
def test_a_sign_up_and_a_delivery_with_rejections_log_no_address_and_no_token(
    settings,
    json_log,
    smtp_inbox,
    sign_up,
    client,
    finance,  # noqa: F811
):
    sign_up("anna.schmidt@example.de")
    confirm_link = next(link for link in smtp_inbox.links(smtp_inbox.mails[0]) if "/bestaetigen/" in link)
    client.post(path_of(confirm_link))
    anna = Subscriber.objects.get(email="anna.schmidt@example.de")
    unsubscribe_token = tokens.make_token(tokens.UNSUBSCRIBE, anna.public_id)
    assert client.post(f"/u/{unsubscribe_token}", {"wrong": "body"}).status_code == 400  # django.request logs the path

    make_audience(finance, 6)
    campaign = scheduled_campaign([finance])
    rejected = Faults(on_rcpt=lambda n: "550 5.1.1 <leser0@example.org>: Recipient address rejected")
    with SmtpServer(rejected) as server:
        run_worker(settings, server, pause_after_failures=3)
    logging.getLogger("rundbrief.test").warning("link %s for %s", confirm_link, "anna.schmidt@example.de")

    output = json_log.getvalue()
    lines = parse_lines(output)
    assert lines and len(lines) == len(output.splitlines()), "every line is one JSON object"
    assert all({"timestamp", "level", "logger", "event"} <= set(line) for line in lines)
    assert ADDRESS.findall(output) == []
    assert TOKENISH.findall(output) == []
    assert unsubscribe_token not in output and confirm_link.rsplit("/", 2)[-2] not in output
    assert any(line["logger"] == "django.request" and "/u/[redacted]" in line["event"] for line in lines)
    paused = [line for line in lines if line["logger"] == "rundbrief.delivery" and "paused" in line["event"]]
    assert paused and "addr:" in paused[0]["event"] and str(campaign.pk) in paused[0]["event"]


def test_scrub_replaces_addresses_by_their_keyed_hash_and_drops_credentials(settings):
    settings.RUNDBRIEF_HASH_KEY = "k"
    from rundbrief.audience.addresses import subject_hash

    line = scrub("to Anna@Example.de via smtp://relay:pw@mx.example:587 with Bearer abc.def and rb_" + "x" * 40)
    assert line == (
        f"to addr:{subject_hash('anna@example.de')[:16]} via smtp://relay:[redacted]@mx.example:587 "
        "with Bearer [redacted] and rb_[redacted]"
    )


def test_extra_fields_such_as_campaign_and_delivery_ids_become_json_keys():
    record = logging.LogRecord("rundbrief.delivery", logging.INFO, __file__, 1, "sent", (), None)
    record.campaign_id, record.delivery_id = 7, 4711
    [line] = parse_lines(make_formatter("json").format(record))
    assert line["campaign_id"] == 7 and line["delivery_id"] == 4711 and line["event"] == "sent"
    assert make_formatter("text").format(record) == "INFO rundbrief.delivery: sent campaign_id=7 delivery_id=4711"
