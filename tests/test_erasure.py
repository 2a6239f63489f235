"""Erasure (GDPR Art. 17) and storage limitation: personal data goes, proof and suppression stay."""

import datetime as dt
import json
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import models
from django.utils import timezone

from rundbrief.audience import actions, queries, tokens
from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.attributes import define_attribute, set_attributes
from rundbrief.audience.ledger import verify_chain
from rundbrief.audience.models import ConsentEvent, ConsentEvidence, ConsentText, Subscriber, Suppression

pytestmark = pytest.mark.django_db
CLARA = "clara.schmidt@example.de"


@pytest.fixture
def clara(topics):
    text = ConsentText.current("de")
    subscriber = actions.request_subscription(
        CLARA, consent_text=text, source="https://n.example/artikel/x/", ip="203.0.113.5", user_agent="Clara's browser"
    ).subscriber
    subscriber.refresh_from_db()
    token = tokens.make_token(tokens.CONFIRM, subscriber.public_id, subscriber.confirm_nonce)
    actions.confirm_subscription(token, ip="203.0.113.5", user_agent="Clara's browser")
    subscriber.refresh_from_db()
    actions.update_preferences(subscriber, topics=["sonderangebote"], source="web:preference-centre")
    return subscriber


def rows_containing(needle):
    """Every (table, column) whose text holds `needle`, over all models of all apps."""
    found = []
    for model in apps.get_models():
        text_fields = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField))
        ]
        for name in text_fields:
            for value in model._base_manager.values_list(name, flat=True):
                if needle in str(value).lower():
                    found.append((model._meta.db_table, name))
    return found


def test_after_erasure_the_address_is_in_no_column_of_any_table(clara):
    """The plaintext address (and the user agent) disappear from every table."""
    assert rows_containing("clara.schmidt") != []
    actions.erase_subscriber(clara, source="test")
    assert rows_containing("clara.schmidt") == []
    assert rows_containing("clara's browser") == []


def test_erasure_keeps_a_verifying_ledger_and_the_hmac_on_the_suppression_list(clara):
    """Events stay, anonymised; verify passes; the keyed hash blocks future mail without a new opt-in."""
    events_before = ConsentEvent.objects.count()
    actions.erase_subscriber(clara, source="test")
    assert ConsentEvent.objects.count() == events_before + 1
    assert not ConsentEvent.objects.filter(subscriber__isnull=False).exists()
    assert not ConsentEvidence.objects.exists()
    assert verify_chain().intact
    assert Suppression.objects.get().address_hash == subject_hash(CLARA)
    assert queries.is_suppressed(CLARA.upper())


def test_the_subscriber_erase_command_erases_and_proof_still_tells_what_happened(clara):
    """`rundbrief subscriber erase` then `consent proof` shows the events without personal data."""
    out = StringIO()
    call_command("subscriber", "erase", CLARA, stdout=out)
    assert "erased" in out.getvalue()
    assert not Subscriber.objects.exists()
    out = StringIO()
    call_command("consent", "proof", CLARA, stdout=out)
    proof = json.loads(out.getvalue())
    assert proof["current_status"] == "erased"
    assert [e["kind"] for e in proof["events"]] == ["requested", "confirmed", "topics_changed", "erased"]
    assert all(e["ip"] is None and e["user_agent"] is None for e in proof["events"])
    assert proof["ledger"]["intact"]


def test_the_subscriber_export_command_prints_profile_topics_and_ledger(clara):
    """GDPR Art. 15/20, with the hook for deliveries and bounces already in place."""
    out = StringIO()
    call_command("subscriber", "export", CLARA, stdout=out)
    data = json.loads(out.getvalue())
    assert data["profile"]["email"] == CLARA and data["profile"]["status"] == "confirmed"
    assert data["subscriptions"] == ["sonderangebote"]
    assert data["ledger"][0]["ip"] == "203.0.113.0"
    assert data["deliveries"] == [] and data["bounces"] == []


def test_the_admin_erase_action_erases_and_leaves_no_address_in_the_admin_log(client, clara):
    """The admin's change history would otherwise keep the address as the object's name."""
    from django.contrib.admin.models import CHANGE, LogEntry

    admin = User.objects.create_superuser("datenschutz", "dsb@musterhaus.example", "pw-1234-geheim")
    LogEntry.objects.log_actions(admin.pk, [clara], CHANGE, single_object=True)
    client.force_login(admin)
    assert client.get(f"/admin/audience/subscriber/{clara.pk}/proof/").status_code == 200
    response = client.post("/admin/audience/subscriber/", {"action": "erase_selected", "_selected_action": [clara.pk]})
    assert response.status_code == 302
    assert not Subscriber.objects.exists()
    assert rows_containing("clara.schmidt") == []
    assert ConsentEvent.objects.last().source == "admin:datenschutz"


def test_purge_deletes_stale_unconfirmed_sign_ups_leaving_an_expired_event_without_the_address(topics):
    """`rundbrief purge`: older than 7 days and unconfirmed goes; younger and confirmed ones stay."""
    text = ConsentText.current("de")
    old = actions.request_subscription("old@example.de", consent_text=text, ip="192.0.2.1").subscriber
    Subscriber.objects.filter(pk=old.pk).update(requested_at=timezone.now() - dt.timedelta(days=8))
    actions.request_subscription("fresh@example.de", consent_text=text)
    out = StringIO()
    call_command("purge", stdout=out)
    assert out.getvalue().startswith("purged 1 ")
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["fresh@example.de"]
    expired = ConsentEvent.objects.get(kind="expired")
    assert expired.subject_hash == subject_hash("old@example.de")
    assert rows_containing("old@example.de") == []
    assert verify_chain().intact


SCRIPT = """
from django.conf import settings
from tests.support.smtp import SmtpServer
from rundbrief.audience import actions, tokens
from rundbrief.audience.models import ConsentText, Subscriber
with SmtpServer() as capture:  # the confirmation mail stays in this process
    settings.SMTP_URL = capture.url
    s = actions.request_subscription("erika.mustermann@example.de", consent_text=ConsentText.current("de"),
                                     ip="203.0.113.9", user_agent="Erikas Browser").subscriber
    s.refresh_from_db()
    actions.confirm_subscription(tokens.make_token(tokens.CONFIRM, s.public_id, s.confirm_nonce))
"""


def test_after_erasure_the_address_is_not_in_the_sqlite_database_file(tmp_path):
    """The bytes of the database file and its WAL hold no trace of the address (secure_delete, checkpoint)."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "RUNDBRIEF_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECRET_KEY": "erasure-test-key",
        "RUNDBRIEF_SERVICE_MAIL_ASYNC": "0",
    }  # fmt: skip  (mail inline: 4 events)
    cli = [sys.executable, "-m", "rundbrief"]

    def run(*args):
        return subprocess.run(cli + list(args), env=env, check=True, capture_output=True, text=True).stdout

    run("migrate", "-v0")
    run("shell", "-c", SCRIPT)
    files = [p for p in tmp_path.iterdir() if p.name.startswith("db.sqlite3")]
    assert any(b"erika.mustermann@example.de" in p.read_bytes() for p in files)
    assert "erased" in run("subscriber", "erase", "erika.mustermann@example.de")
    assert run("consent", "verify").startswith("chain intact: 4 events")
    for path in tmp_path.iterdir():
        if path.name.startswith("db.sqlite3"):
            data = path.read_bytes()
            assert b"erika.mustermann" not in data and b"Erikas Browser" not in data, path.name


@pytest.mark.django_db(transaction=True)
def test_erasure_never_answers_success_while_a_reader_keeps_the_old_pages_in_the_wal(client, monkeypatch):
    """A long read transaction (a proof page, an export, a backup) keeps SQLite from resetting the
    write-ahead log: the API says so (503) instead of 204, and the next checkpoint finishes the job."""
    import sqlite3

    from django.db import connection

    from rundbrief.api.actions import issue_api_token
    from rundbrief.db import bulk

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    monkeypatch.setattr(bulk, "WAL_PATIENCE_SECONDS", 0.3)
    subscriber = Subscriber.objects.create(email="clara@example.de", status="confirmed")
    _record, token = issue_api_token("crm", ("erase",))
    reader = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM audience_subscriber").fetchone()  # holds its snapshot
        response = client.delete(f"/api/v1/subscribers/{subscriber.public_id}", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 503 and "write-ahead log" in response.json()["detail"]
        assert not Subscriber.objects.filter(pk=subscriber.pk).exists()  # the erasure itself is committed
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    assert bulk.checkpoint_sqlite_wal() is True


def test_after_erasure_her_attribute_values_are_in_no_column_of_any_table(clara):
    """Custom fields go with the row (GDPR Art. 17): the customer number is nowhere afterwards."""
    define_attribute(key="kundennr", label="Kundennummer", type="text")
    set_attributes(clara, {"kundennr": "KD-4711-ZETT"}, source="test")
    assert rows_containing("kd-4711-zett") == [("audience_subscriber", "attributes")]
    actions.erase_subscriber(clara, source="test")
    assert rows_containing("kd-4711-zett") == []
