"""The proof of consent: only for those who may see subscribers, and checked locally (the address's
events and their links), not by walking the whole ledger on every page view."""

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.utils import timezone

from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.ledger import append_event, verify_events
from rundbrief.audience.models import ConsentEvent, ConsentText, Subscriber
from rundbrief.audience.proof import proof_for_address
from tests.support.ledger import drop_triggers

pytestmark = pytest.mark.django_db
TABLE = ConsentEvent._meta.db_table


@pytest.fixture
def anna():
    text = ConsentText.current("de")
    subject = subject_hash("anna@example.de")
    events = [
        append_event("requested", subject_hash=subject, consent_text=text, ip="203.0.113.7", user_agent="UA/1"),
        append_event("confirmed", subject_hash=subject, consent_text=text, ip="203.0.113.7", user_agent="UA/1"),
    ]
    subscriber = Subscriber.objects.create(email="anna@example.de", status="confirmed", confirmed_at=timezone.now())
    return subscriber, events


def staff(username, *permissions):
    user = User.objects.create_user(username, password="pw-long-enough-1", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    return user


def test_a_staff_user_without_view_subscriber_gets_no_proof(client, anna):
    subscriber, _events = anna
    client.force_login(staff("redakteur", "change_article", "view_article"))
    response = client.get(f"/admin/audience/subscriber/{subscriber.pk}/proof/")
    assert response.status_code == 403 and b"anna@example.de" not in response.content


def test_a_staff_user_who_may_view_subscribers_gets_the_proof(client, anna):
    subscriber, _events = anna
    client.force_login(staff("datenschutz", "view_subscriber"))
    response = client.get(f"/admin/audience/subscriber/{subscriber.pk}/proof/")
    assert response.status_code == 200 and b"anna@example.de" in response.content


def test_the_proof_does_not_read_the_whole_ledger(anna):
    from django.test.utils import CaptureQueriesContext

    for i in range(30):  # other people's events: the proof of one address must not walk them
        append_event("requested", subject_hash=subject_hash(f"leser{i}@example.org"))
    with CaptureQueriesContext(connection) as queries:
        proof = proof_for_address("anna@example.de")
    assert proof["ledger"]["intact"] and proof["ledger"]["events"] == 2
    ledger_reads = [q["sql"] for q in queries.captured_queries if f'FROM "{TABLE}"' in q["sql"]]
    # Every read of the ledger names what it wants (her subject, an id, a neighbour): no full pass.
    assert ledger_reads and all(" WHERE " in sql for sql in ledger_reads), ledger_reads
    assert len(queries.captured_queries) <= 12


def test_the_local_check_names_an_edited_event_of_the_address(anna):
    _subscriber, events = anna
    append_event("requested", subject_hash=subject_hash("ben@example.de"))
    drop_triggers()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET source = 'gefälscht' WHERE id = %s", [events[0].pk])
    assert verify_events([e.pk for e in events]).broken_event_id == events[0].pk
    assert proof_for_address("anna@example.de")["ledger"]["intact"] is False


def test_the_local_check_sees_a_removed_neighbour(anna):
    _subscriber, events = anna
    other = append_event("requested", subject_hash=subject_hash("ben@example.de"))
    append_event("requested", subject_hash=subject_hash("cem@example.de"))
    drop_triggers()
    with connection.cursor() as cursor:  # someone else's event between hers and the next: removed
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [other.pk])
    report = verify_events([events[1].pk])
    assert not report.intact and report.broken_event_id == events[1].pk


def test_the_local_check_sees_an_event_rehashed_after_editing(anna):
    """A forger who recomputes the edited event's hash still breaks the next event's prev_hash."""
    from rundbrief.audience.ledger import chain_hash, chained_payload

    _subscriber, events = anna
    drop_triggers()
    first = ConsentEvent.objects.get(pk=events[0].pk)
    first.source = "gefälscht"
    forged = chain_hash(first.prev_hash, chained_payload(first))
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET source = %s, hash = %s WHERE id = %s", ["gefälscht", forged, first.pk])
    assert verify_events([events[0].pk]).broken_event_id == events[0].pk
