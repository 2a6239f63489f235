"""A sign-up is answered after one write transaction: its rate-limit counters and its intake row.

On SQLite every write transaction queues for the one write lock, so a sign-up that
took four of them spent most of its time queueing (docs/benchmarks.md, sign-up).
Subscriber, topics and ledger event follow after the commit, in batches
(rundbrief/audience/intake.py); the test settings run them inline.
"""

import json
import re

import pytest
from django.db import connection

from rundbrief.audience.models import ConsentEvent, ConsentText, SignupIntake
from rundbrief.db.models import RateWindow
from rundbrief.newsroom.models import SiteProfile

pytestmark = [
    pytest.mark.django_db(transaction=True),  # real BEGIN and COMMIT, not the test's savepoints
    pytest.mark.skipif(connection.vendor != "sqlite", reason="counts SQLite's BEGIN statements"),
]

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


@pytest.fixture(autouse=True)
def site_profile(db):
    return SiteProfile.load()  # created on first use: here, not by the request mail


def transactions_of(call):
    """Run `call`; return the write statements grouped by the transaction they ran in ([] = autocommit)."""
    groups = [[]]

    def record(execute, sql, params, many, context):
        if sql.startswith("BEGIN"):
            groups.append([])
        elif WRITE.match(sql):
            groups[-1].append(sql.split("(")[0].split(" SET ")[0].strip())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        response = call()
    return response, groups


def tables(statements):
    return sorted({re.search(r'"(\w+)"', sql).group(1) for sql in statements})


def test_an_api_sign_up_counts_its_limits_and_records_the_request_in_one_transaction(client, topics):
    body = json.dumps({"email": "erika@example.de", "consent_text_version": 1, "topics": ["sonderangebote"]})
    response, groups = transactions_of(
        lambda: client.post("/api/v1/subscriptions", body, content_type="application/json")
    )
    assert response.status_code == 202
    autocommit, sign_up, *after_commit = groups
    assert autocommit == []
    assert tables(sign_up) == ["audience_signupintake", "rundbrief_db_ratewindow"]
    # After the commit (inline in the test settings): the batch that applies it and leases its mail,
    # and the record of the mail sent. (Small batches run on Django's cursor, so the wrapper now
    # also sees the ledger's INSERTs: rundbrief/db/bulk.py, bulk_cursor.)
    assert [tables(g) for g in after_commit] == [
        [
            "audience_consentevent",
            "audience_consentevidence",
            "audience_signupintake",
            "audience_subscriber",
            "audience_subscription",
        ],
        ["audience_consentevent", "audience_signupintake"],
    ]
    assert list(ConsentEvent.objects.order_by("pk").values_list("kind", flat=True)) == [
        "requested",
        "confirmation_sent",
    ]
    assert not SignupIntake.objects.exists()


def test_a_form_sign_up_counts_its_limits_and_records_the_request_in_one_transaction(client, topics):
    data = {"email": "max@example.de", "consent_text": ConsentText.current("de").pk, "page": "/artikel/gold/"}
    response, groups = transactions_of(lambda: client.post("/newsletter/", data))
    assert response.status_code == 200
    autocommit, sign_up, *after_commit = groups
    assert autocommit == []
    assert tables(sign_up) == ["audience_signupintake", "rundbrief_db_ratewindow"]
    assert len(after_commit) == 2 and ConsentEvent.objects.count() == 2


def test_refused_sign_ups_still_count_against_the_per_ip_limit(client, topics, settings, one_rate_window):
    """The counters commit even when the request is refused, so bad input cannot probe without limit."""
    settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE = 2

    def post(email):
        body = json.dumps({"email": email, "consent_text_version": 1})
        return client.post("/api/v1/subscriptions", body, content_type="application/json")

    assert [post("kaputt").status_code, post("auch kaputt").status_code] == [422, 422]
    assert post("gueltig@example.de").status_code == 429
    assert RateWindow.objects.get(key__startswith="ip:").count == 3
