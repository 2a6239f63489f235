"""The consent ledger is append-only, hash-chained, and tells on whoever edits it (GDPR Art. 7(1))."""

from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from rundbrief.audience.addresses import subject_hash, truncate_ip
from rundbrief.audience.ledger import append_event, verify_chain
from rundbrief.audience.models import AppendOnlyError, ConsentEvent, ConsentText
from tests.support.ledger import drop_triggers

pytestmark = pytest.mark.django_db
TABLE = "audience_consentevent"


@pytest.fixture
def ledger():
    text = ConsentText.current("de")
    subject = subject_hash("anna@example.de")
    return [
        append_event(
            "requested",
            subject_hash=subject,
            consent_text=text,
            topics=["sonderangebote"],
            source="https://news.example/artikel/a/",
            ip="203.0.113.7",
            user_agent="UA/1",
        ),
        append_event("confirmation_sent", subject_hash=subject, message_id="<1@news.example>"),
        append_event("confirmed", subject_hash=subject, consent_text=text, ip="203.0.113.7", user_agent="UA/1"),
        append_event("withdrawn", subject_hash=subject, source="web:one-click-unsubscribe"),
    ]


def verify():
    out = StringIO()
    try:
        call_command("consent", "verify", stdout=out)
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, out.getvalue().strip()


def test_verify_reports_an_intact_chain_with_its_event_count(ledger):
    """Exit 0 and `chain intact: N events`."""
    assert verify() == (0, "chain intact: 4 events")
    assert ledger[0].prev_hash == "0" * 64 and ledger[1].prev_hash == ledger[0].hash


def test_the_orm_refuses_to_update_or_delete_consent_events(ledger):
    """Queryset and instance both refuse: the ledger only grows."""
    with pytest.raises(AppendOnlyError):
        ConsentEvent.objects.filter(pk=ledger[0].pk).update(source="x")
    with pytest.raises(AppendOnlyError):
        ConsentEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        ledger[0].save()
    with pytest.raises(AppendOnlyError):
        ledger[0].delete()


def test_the_database_trigger_refuses_raw_update_and_delete(ledger):
    """Raw SQL past the ORM is stopped by the trigger on SQLite and PostgreSQL."""
    for sql in (
        f"UPDATE {TABLE} SET source = 'forged' WHERE id = %s",
        f"DELETE FROM {TABLE} WHERE id = %s",
        f"UPDATE {TABLE} SET subscriber_id = NULL, kind = 'confirmed' WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, [ledger[0].pk])
    assert verify()[0] == 0


def test_editing_an_event_with_raw_sql_is_named_by_verify(ledger):
    """With the trigger dropped, a changed source breaks that event's hash: exit 1 naming it."""
    drop_triggers()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET source = 'https://elsewhere.example/' WHERE id = %s", [ledger[1].pk])
    code, message = verify()
    assert code == 1
    assert f"chain broken at event {ledger[1].pk}:" in message


def test_deleting_an_event_breaks_the_chain_at_the_next_one(ledger):
    """A missing link shows as the following event's prev_hash not matching."""
    drop_triggers()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [ledger[1].pk])
    assert verify_chain().broken_event_id == ledger[2].pk


def test_changing_the_recorded_ip_is_detected_through_the_commitment(ledger):
    """Evidence lives outside the chain but is committed to; while present it cannot be altered unseen."""
    from rundbrief.audience.models import ConsentEvidence

    ConsentEvidence.objects.filter(event=ledger[2]).update(ip="198.51.100.0")
    report = verify_chain()
    assert report.broken_event_id == ledger[2].pk and "IP or user agent" in report.reason


def test_removing_the_evidence_keeps_the_chain_verifiable(ledger):
    """Erasure deletes IP and user agent; verify still passes (docs/decisions.md)."""
    from rundbrief.audience.models import ConsentEvidence

    ConsentEvidence.objects.all().delete()
    assert verify() == (0, "chain intact: 4 events")


def test_ip_addresses_are_cut_to_24_and_48_bits_unless_configured(settings):
    """Data minimisation (GDPR Art. 5(1)(c)); the full address only with RUNDBRIEF_STORE_FULL_IP."""
    assert truncate_ip("203.0.113.77") == "203.0.113.0"
    assert truncate_ip("2001:db8:abcd:12:1:2:3:4") == "2001:db8:abcd::"
    assert truncate_ip("not an ip") == ""
    settings.RUNDBRIEF_STORE_FULL_IP = True
    assert truncate_ip("203.0.113.77") == "203.0.113.77"


def test_default_consent_texts_exist_in_german_and_english_with_their_hash():
    """Data migration: version 1 in both languages, naming what is sent and the right to withdraw."""
    de, en = ConsentText.current("de"), ConsentText.current("en")
    assert de.version == en.version == 1
    assert de.sha256 == ConsentText.digest(de.text)
    assert "Produktneuheiten, Finanznachrichten und Sonderangebote" in de.text
    assert "Wirkung für die Zukunft" in de.text and "Datenschutzhinweisen" in de.text
    assert "withdraw" in en.text and "privacy notice" in en.text


def test_editing_a_consent_text_in_the_admin_creates_a_new_version(client):
    """The old text stays, unchanged, as proof of what earlier readers agreed to."""
    admin = User.objects.create_superuser("redaktion", "redaktion@musterhaus.example", "pw-1234-geheim")
    client.force_login(admin)
    old = ConsentText.current("de")
    response = client.post(f"/admin/audience/consenttext/{old.pk}/change/", {"language": "de", "text": "Neuer Text."})
    assert response.status_code == 302
    new = ConsentText.current("de")
    assert (new.version, new.text, new.sha256) == (2, "Neuer Text.", ConsentText.digest("Neuer Text."))
    old_again = ConsentText.objects.get(pk=old.pk)
    assert (old_again.version, old_again.text, old_again.sha256) == (1, old.text, old.sha256)


@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="exercises the PostgreSQL advisory lock; SQLite serialises writers with BEGIN IMMEDIATE",
)
def test_concurrent_appends_on_postgresql_still_form_one_chain():
    """pg_advisory_xact_lock serialises appends: eight writers at once never share a predecessor.

    The writers use their own connections and commit for real, so the test removes
    their rows itself (triggers off for that one session) instead of relying on a
    flush that would also wipe the migrated consent texts.
    """
    import threading

    from django.db import connections

    errors = []

    def in_thread(work):
        def run():
            try:
                work()
            except Exception as exc:  # reported by the assertion below
                errors.append(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def writer(n):
        return lambda: [
            append_event("requested", subject_hash=subject_hash(f"w{n}-{i}@example.de"), ip="192.0.2.1")
            for i in range(15)
        ]

    def cleanup():
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
            cursor.execute("DELETE FROM audience_consentevidence")
            cursor.execute(f"DELETE FROM {TABLE}")
            cursor.execute("SET session_replication_role = origin")

    try:
        for thread in [in_thread(writer(n)) for n in range(8)]:
            thread.join()
        assert not errors
        report = verify_chain()
        assert report.intact and report.count == 120
        assert ConsentEvent.objects.values("prev_hash").distinct().count() == 120
    finally:
        in_thread(cleanup).join()
    assert not errors


@pytest.mark.django_db(transaction=True)  # SQLite's table rebuild cannot run inside the test's transaction
def test_the_ledger_keeps_its_triggers_and_chain_when_migration_0005_rebuilds_the_table():
    """Dropping the hash's unique index rebuilds the table on SQLite, which drops its triggers; the
    migration creates them again, applied and unapplied, and the events come through unchanged."""
    import importlib

    from django.db.migrations.executor import MigrationExecutor

    triggers = importlib.import_module("rundbrief.audience.migrations.0002_consent_ledger_triggers")
    for n in range(3):
        with transaction.atomic():
            append_event("requested", subject_hash=subject_hash(f"m{n}@example.de"), ip="203.0.113.7")
    try:
        for target in ("before", "after"):
            executor = MigrationExecutor(connection)
            if target == "before":
                executor.migrate([("audience", "0004_signup_intake")])
            else:
                executor.migrate(executor.loader.graph.leaf_nodes())
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(f"DELETE FROM {TABLE}")
            report = verify_chain()
            assert report.intact and report.count == 3, target
    finally:  # the test database's flush must find the ledger empty, and the triggers must stay for later tests
        with connection.schema_editor() as editor:
            triggers.drop_triggers(None, editor)
            editor.execute("DELETE FROM audience_consentevidence")
            editor.execute(f"DELETE FROM {TABLE}")
            triggers.create_triggers(None, editor)


def test_deleting_the_newest_events_shows_against_the_last_anchor(ledger, tmp_path):
    """No later hash needs rewriting when the newest events go (a `withdrawn` could vanish): only an
    anchor kept outside the database catches it."""
    anchor_file = tmp_path / "anker.jsonl"
    out = StringIO()
    call_command("consent", "anchor", "--file", str(anchor_file), stdout=out)
    assert '"count": 4' in out.getvalue() and anchor_file.read_text().count("\n") == 1
    code, message = verify_with(anchor_file)
    assert code == 0 and message.startswith("chain intact: 4 events; matches the anchor of ")
    drop_triggers()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [ledger[3].pk])  # the withdrawal
    assert verify() == (0, "chain intact: 3 events")  # the chain alone cannot tell
    code, message = verify_with(anchor_file)
    assert code == 1 and message.startswith("truncated: the anchor of ") and f"event {ledger[3].pk}" in message


def test_editing_a_consent_texts_wording_is_named_by_verify(ledger):
    drop_triggers()
    text = ConsentText.current("de")
    with connection.cursor() as cursor:  # new words, the old SHA-256 left beside them
        cursor.execute(f"UPDATE {ConsentText._meta.db_table} SET text = %s WHERE id = %s", ["Andere Worte.", text.pk])
    code, message = verify()
    assert code == 1 and f"consent text de v{text.version}" in message and "does not match" in message


def verify_with(anchor_file):
    out = StringIO()
    try:
        call_command("consent", "verify", "--anchor", str(anchor_file), stdout=out)
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, out.getvalue().strip()
