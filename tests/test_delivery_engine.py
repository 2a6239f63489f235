"""The delivery engine against a real SMTP server: every recipient once, well-formed, signed, consent re-checked."""

import email
import io
import re
from email import policy

import dkim as dkimpy
import pytest
from django.core.management import call_command
from django.db import connection

from rundbrief.audience.actions import suppress_address, withdraw_consent
from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.engine import Options
from rundbrief.delivery.models import Delivery
from rundbrief.delivery.snapshot import snapshot_audience
from rundbrief.delivery.store import DjangoRecipientStore
from rundbrief.ops.worker import build_worker
from rundbrief.outbound import dkim, verp
from tests.support.campaigns import make_audience, scheduled_campaign
from tests.support.smtp import SmtpServer
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def parse(received):
    return email.message_from_bytes(received.data, policy=policy.default)


def test_campaign_reaches_every_confirmed_subscriber_exactly_once(settings, finance):
    make_audience(finance, 60)
    Subscriber.objects.create(email="pending@example.org")  # not confirmed: not in the audience
    campaign = scheduled_campaign([finance])
    with SmtpServer() as server:
        stats = run_worker(settings, server)
    recipients = sorted(r for m in server.messages for r in m.rcpt_tos)
    assert recipients == sorted(f"leser{i}@example.org" for i in range(60))
    assert stats.sent == 60
    assert set(Delivery.objects.filter(campaign=campaign).values_list("state", flat=True)) == {"sent"}
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.FINISHED and campaign.finished_at


def test_message_has_list_headers_deterministic_message_id_and_two_alternatives(settings, finance):
    make_audience(finance, 1)
    campaign = scheduled_campaign([finance], subject="Goldpreis: Wochenausblick für Anleger")
    with SmtpServer() as server:
        run_worker(settings, server)
    received = server.messages[0]
    msg = parse(received)
    delivery = Delivery.objects.get(campaign=campaign)
    assert msg["Subject"] == "Goldpreis: Wochenausblick für Anleger"
    assert msg["Message-ID"] == verp.message_id(campaign.pk, delivery.pk, "musterhaus.example")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(
        r"<http://[^>]+/u/[^>]+>, <mailto:unsubscribe\+\d+-[a-z2-7]{10}@musterhaus\.example\?subject=unsubscribe>",
        msg["List-Unsubscribe"],
    )
    assert msg["List-Id"] and msg["Feedback-ID"] == f"c{campaign.pk}:newsletter:rundbrief" and msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text, html = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
    unsubscribe_url = msg["List-Unsubscribe"].split(">")[0][1:]
    assert unsubscribe_url in text and f'href="{unsubscribe_url}"' in html
    assert "%%RB:" not in text + html
    assert verp.parse_return_path(received.mail_from) == delivery.pk
    assert all(len(line) <= 78 for line in received.data.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))


def test_rsa_and_ed25519_signatures_verify_with_dkimpy(settings, finance, tmp_path):
    records = {}
    for algorithm, selector in (("rsa", "rb2026"), ("ed25519", "rbed")):
        key = dkim.generate_key(algorithm)
        (tmp_path / algorithm).write_bytes(dkim.private_pem(key))
        signing = dkim.SigningKey(
            "rsa-sha256" if algorithm == "rsa" else "ed25519-sha256", "musterhaus.example", selector, key
        )
        records[f"{selector}._domainkey.musterhaus.example.".encode()] = dkim.dns_record(signing).encode()
    settings.DKIM_PRIVATE_KEY_FILE, settings.DKIM_SELECTOR = str(tmp_path / "rsa"), "rb2026"
    settings.DKIM_ED25519_KEY_FILE, settings.DKIM_ED25519_SELECTOR = str(tmp_path / "ed25519"), "rbed"
    make_audience(finance, 3)
    scheduled_campaign([finance], subject="Sonderangebot: Silbermünzen ✓")
    with SmtpServer() as server:
        run_worker(settings, server)
    assert len(server.messages) == 3
    for received in server.messages:
        checker = dkimpy.DKIM(received.data)
        assert checker.verify(idx=0, dnsfunc=lambda name, timeout=5: records.get(name))
        assert checker.verify(idx=1, dnsfunc=lambda name, timeout=5: records.get(name))
        signature = parse(received)["DKIM-Signature"]
        assert "h=from:from:" in signature and " l=" not in signature
    tampered = server.messages[0].data.replace(b"Gold steigt", b"Gold f\xc3\xa4llt")
    try:
        tampered_ok = dkimpy.DKIM(tampered).verify(idx=0, dnsfunc=lambda name, timeout=5: records.get(name))
    except dkimpy.ValidationError:
        tampered_ok = False
    assert not tampered_ok


def test_unsubscribe_link_from_a_received_message_withdraws_consent(settings, finance, client):
    make_audience(finance, 1)
    scheduled_campaign([finance])
    with SmtpServer() as server:
        run_worker(settings, server)
    url = parse(server.messages[0])["List-Unsubscribe"].split(">")[0][1:]
    path = url.split("://", 1)[1].partition("/")[2]
    response = client.post("/" + path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert Subscriber.objects.get().status == Subscriber.Status.WITHDRAWN


def test_rows_withdrawn_suppressed_or_unsubscribed_from_the_topic_after_scheduling_are_skipped(
    settings, finance, topics
):
    people = make_audience(finance, 5)
    campaign = scheduled_campaign([finance])
    withdraw_consent(people[0])
    suppress_address(people[1].email, reason="bounced")
    Subscription.objects.filter(subscriber=people[2]).delete()
    with SmtpServer() as server:
        run_worker(settings, server)
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == sorted(p.email for p in people[3:])
    states = dict(Delivery.objects.filter(campaign=campaign).values_list("subscriber_id", "state"))
    assert states[people[0].pk] == "skipped_withdrawn"
    assert states[people[1].pk] == "skipped_suppressed"
    assert states[people[2].pk] == "skipped_withdrawn"


def test_snapshot_inserts_each_eligible_subscriber_once_and_is_idempotent(finance, topics):
    make_audience(finance, 10)
    both = make_audience(topics["sonderangebote"], 3, prefix="beide")
    Subscription.objects.bulk_create([Subscription(subscriber=s, topic=finance) for s in both])
    Subscriber.objects.create(email="offen@example.org")
    campaign = scheduled_campaign([finance, topics["sonderangebote"]])
    assert campaign.recipient_count == 13
    with connection.cursor():
        assert snapshot_audience(campaign) == 0
    assert Delivery.objects.filter(campaign=campaign).count() == 13


def test_ledger_rows_follow_their_campaign_and_subscriber_without_database_foreign_keys(finance):
    # The ledger has no FOREIGN KEY constraints (schedule speed, docs/decisions.md); deletion must
    # still cascade and erasure still null the subscriber through Django's on_delete.
    from rundbrief.audience.actions import erase_subscriber

    people = make_audience(finance, 3)
    kept = scheduled_campaign([finance])
    dropped = scheduled_campaign([finance])
    assert Delivery.objects.filter(campaign=dropped).count() == 3
    dropped.delete()
    assert not Delivery.objects.filter(campaign_id=dropped.pk).exists()
    erased = people[0].pk
    erase_subscriber(people[0])
    rows = Delivery.objects.filter(campaign=kept)
    assert rows.count() == 3
    assert rows.filter(subscriber__isnull=True).count() == 1
    assert not rows.filter(subscriber_id=erased).exists()


def test_forged_or_foreign_verp_addresses_map_to_no_delivery():
    address = verp.return_path(42, "bounce.example")
    assert verp.parse_return_path(address) == 42
    forged = address.replace("bounces+42-", "bounces+43-")
    assert verp.parse_return_path(forged) is None
    assert verp.parse_return_path("bounces+42-aaaaaaaaaa@bounce.example") is None
    assert verp.parse_return_path("postmaster@bounce.example") is None


def test_deliver_command_exits_when_idle_and_reports(settings, finance):
    make_audience(finance, 4)
    scheduled_campaign([finance])
    with SmtpServer() as server:
        settings.DELIVERY_SMTP_URLS = [server.url]
        out = io.StringIO()
        call_command("deliver", "--until-idle", "--concurrency", "2", stdout=out)
    assert "sent=4" in out.getvalue()
    assert len(server.messages) == 4


def test_dkim_keygen_writes_a_private_key_and_prints_the_dns_record(tmp_path):
    from rundbrief.outbound.dkim import load_key

    out = io.StringIO()
    call_command(
        "dkim",
        "keygen",
        "--out",
        str(tmp_path / "k.pem"),
        "--domain",
        "musterhaus.example",
        "--selector",
        "rb",
        stdout=out,
    )
    text = out.getvalue()
    assert "rb._domainkey.musterhaus.example" in text and '"v=DKIM1; k=rsa; p=' in text
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    assert load_key(str(tmp_path / "k.pem"), "musterhaus.example", "rb").key.key_size == 2048
    with pytest.raises(Exception, match="exists already"):
        call_command("dkim", "keygen", "--out", str(tmp_path / "k.pem"), stdout=io.StringIO())


def test_worker_purges_expired_unconfirmed_sign_ups_when_idle(settings):
    import datetime as dt

    from django.utils import timezone

    from rundbrief.audience.models import ConsentEvent

    old = Subscriber.objects.create(email="vergessen@example.org", requested_at=timezone.now() - dt.timedelta(days=8))
    fresh = Subscriber.objects.create(email="frisch@example.org")
    with SmtpServer() as server:
        run_worker(settings, server)
    assert list(Subscriber.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert old.email not in str(list(ConsentEvent.objects.values_list("source", flat=True)))


def test_transport_with_from_domain_sends_only_that_domains_campaigns(settings, finance):
    make_audience(finance, 4)
    musterhaus = scheduled_campaign([finance], subject="Von Musterhaus")
    other = scheduled_campaign([finance], subject="Von Partner")
    Campaign.objects.filter(pk=other.pk).update(from_email="news@partner.example")
    with SmtpServer() as general, SmtpServer() as dedicated:
        settings.DELIVERY_SMTP_URLS = [general.url, f"{dedicated.url}?from_domain=musterhaus.example"]
        options = Options(until_idle=True, recheck_seconds=0.05, idle_poll_seconds=0.05, concurrency=2)
        build_worker("routing-worker", options).run()
    assert {parse(m)["Subject"] for m in dedicated.messages} == {"Von Musterhaus"}
    assert {parse(m)["Subject"] for m in general.messages} == {"Von Partner"}
    assert len(dedicated.messages) == len(general.messages) == 4
    assert musterhaus.pk != other.pk


def test_claim_finish_and_consent_check_use_indexes_that_do_not_grow_with_the_audience(finance):
    # A claim that reads every row of the campaign and sorts them is quadratic in the audience:
    # at 200,000 recipients it cost more CPU per message than sending. The plans must stay index walks.
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "sqlite":
        pytest.skip("the plan check is written for SQLite's EXPLAIN QUERY PLAN")
    make_audience(finance, 5)
    campaign = scheduled_campaign([finance])
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.SENDING)
    store = DjangoRecipientStore("plan-test", 30)
    with CaptureQueriesContext(connection) as captured:
        claimed = store.claim(3)
        assert len(claimed) == 3
        store.finish_done_campaigns()
        assert set(store.consent_check(claimed, {campaign.pk: [finance.pk]}).values()) == {"ok"}
    queries = [q["sql"] for q in captured.captured_queries]

    def plan(sql):
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            return " | ".join(row[3] for row in cursor.fetchall())

    ledger = [sql for sql in queries if "delivery_delivery" in sql]
    assert ledger
    for sql in ledger:
        assert "delivery_claim" in plan(sql), (sql, plan(sql))
        assert "SCAN delivery_delivery" not in plan(sql) and "SCAN U0" not in plan(sql), (sql, plan(sql))
    # The consent check reads the claimed subscribers by primary key, not every confirmed one by status.
    [consent] = [sql for sql in queries if "audience_subscription" in sql]
    assert "INTEGER PRIMARY KEY" in plan(consent) and "status=?" not in plan(consent), plan(consent)
