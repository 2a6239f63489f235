"""A sign-up is one write transaction: rate-limit counters, subscriber, topics and ledger event commit together.

On SQLite every write transaction queues for the one write lock, so a sign-up that
took four of them spent most of its time queueing (docs/benchmarks.md, sign-up).
"""

import json
import re

import pytest
from django.db import connection

from rundbrief.audience.models import ConsentText, RateCounter
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
    response, groups = transactions_of(lambda: client.post("/api/v1/subscriptions", body,
                                                            content_type="application/json"))  # fmt: skip
    assert response.status_code == 202
    autocommit, sign_up, *after_commit = groups
    assert autocommit == []
    assert tables(sign_up) == ["audience_consentevent", "audience_consentevidence", "audience_ratecounter",
                               "audience_subscriber", "audience_subscription"]  # fmt: skip
    # The test settings send the request mail inline: its `confirmation_sent` event is the only other write.
    assert [tables(g) for g in after_commit] == [["audience_consentevent"]]


def test_a_form_sign_up_counts_its_limits_and_records_the_request_in_one_transaction(client, topics):
    data = {"email": "max@example.de", "consent_text": ConsentText.current("de").pk, "page": "/artikel/gold/"}
    response, groups = transactions_of(lambda: client.post("/newsletter/", data))
    assert response.status_code == 200
    autocommit, sign_up, *after_commit = groups
    assert autocommit == []
    assert "audience_ratecounter" in tables(sign_up) and "audience_consentevent" in tables(sign_up)
    assert [tables(g) for g in after_commit] == [["audience_consentevent"]]


def test_refused_sign_ups_still_count_against_the_per_ip_limit(client, topics, settings):
    """The counters commit even when the request is refused, so bad input cannot probe without limit."""
    settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE = 2
    post = lambda email: client.post("/api/v1/subscriptions", json.dumps({"email": email, "consent_text_version": 1}),  # noqa: E731
                                     content_type="application/json")  # fmt: skip
    assert [post("kaputt").status_code, post("auch kaputt").status_code] == [422, 422]
    assert post("gueltig@example.de").status_code == 429
    assert RateCounter.objects.get(key__startswith="ip:").count == 3
