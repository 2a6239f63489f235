"""A sign-up while the database cannot write (read-only, disk full) gets a translated 503 "try again
later" in the site's layout, and the error is logged; nothing half-stored. The database is made
read-only at the real connection (SQLite `PRAGMA query_only`, PostgreSQL `SET TRANSACTION READ ONLY`)."""

import json

import pytest
from django.db import connection

from rundbrief.audience.models import ConsentText, Subscriber


@pytest.fixture
def read_only_database(db, topics):
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA query_only = ON")
        else:  # the test's own transaction: read-write to read-only is allowed after queries
            cursor.execute("SET TRANSACTION READ ONLY")
    yield
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA query_only = OFF")


def test_the_form_answers_503_try_again_later_in_the_site_layout_and_logs_it(
    sign_up, smtp_inbox, read_only_database, json_log
):
    response = sign_up("leserin@example.org")
    assert response.status_code == 503 and response["Retry-After"]
    page = response.content.decode()
    assert "Vorübergehend nicht erreichbar" in page and "versuchen Sie es später" in page
    assert 'class="site-header' in page or "<header" in page  # the site's layout, not a bare error
    assert "leserin@example.org" not in page
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert any(line["event"].startswith("sign-up not stored") and line["level"] == "error" for line in lines)
    assert smtp_inbox.mails == []


def test_the_english_form_answers_in_english(sign_up, read_only_database):
    response = sign_up("reader@example.org", prefix="/en", language="en")
    assert response.status_code == 503 and "Please try again later" in response.content.decode()


def test_the_api_answers_503_as_json(client, read_only_database):
    body = {"email": "leserin@example.org", "consent_text_version": ConsentText.current("de").version}
    response = client.post("/api/v1/subscriptions", json.dumps(body), content_type="application/json")
    assert response.status_code == 503 and "try again later" in response.json()["detail"]


def test_once_the_database_writes_again_the_same_sign_up_goes_through(sign_up, smtp_inbox, read_only_database):
    assert sign_up("leserin@example.org").status_code == 503
    with connection.cursor() as cursor:
        if connection.vendor != "sqlite":
            pytest.skip("PostgreSQL: a transaction cannot become read-write again after queries")
        cursor.execute("PRAGMA query_only = OFF")
    assert sign_up("leserin@example.org").status_code == 200
    assert Subscriber.objects.get().email == "leserin@example.org"


def test_a_re_subscription_from_the_preference_centre_answers_503_too(client, topics, settings):
    from rundbrief.audience import actions, tokens

    berta = actions.request_subscription("berta@example.de", consent_text=ConsentText.current("de"), source="test")
    subscriber = berta.subscriber
    subscriber.refresh_from_db()
    actions.withdraw_consent(subscriber, source="test")
    url = f"/p/{tokens.make_token(tokens.PREFERENCES, subscriber.public_id)}"
    body = {"action": "resubscribe", "consent_text": ConsentText.current("de").pk, "topics": ["sonderangebote"]}
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA query_only = ON")
        else:
            # The rows written above have deferred foreign-key checks pending, which the test's
            # teardown would run (SELECT … FOR KEY SHARE) inside the read-only transaction: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            cursor.execute("SET TRANSACTION READ ONLY")
    try:
        response = client.post(url, body)
    finally:
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA query_only = OFF")
    assert response.status_code == 503 and "später erneut" in response.content.decode()
