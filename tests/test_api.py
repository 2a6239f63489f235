"""The HTTP API at /api/v1/: sign-up with the form's semantics, and token-protected subscriber administration."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rundbrief.api.actions import issue_api_token
from rundbrief.api.models import ApiToken, token_digest
from rundbrief.audience import ledger
from rundbrief.audience.actions import suppress_address
from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.models import ConsentEvent, Subscriber, Suppression

URL = "/api/v1/subscriptions"


@pytest.fixture
def generous_limits(settings):
    settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE = 100_000
    settings.RUNDBRIEF_SIGNUP_GLOBAL_PER_MINUTE = 100_000


@pytest.fixture
def subscribe(client, django_capture_on_commit_callbacks):
    """POST a JSON sign-up as a shop's checkout would, running the after-commit mail."""

    def post(body, ip="198.51.100.23", **headers):
        with django_capture_on_commit_callbacks(execute=True):
            data = body if isinstance(body, str | bytes) else json.dumps(body)
            return client.post(URL, data, content_type="application/json", REMOTE_ADDR=ip, **headers)

    return post


@pytest.fixture
def crm(db):
    """An API client called "crm", with its bearer token, allowed everything."""
    record, token = issue_api_token("crm", ("signup", "read", "write", "erase"))
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def state():
    return (
        list(Subscriber.objects.values_list("email", "status")),
        ConsentEvent.objects.count(),
        Suppression.objects.count(),
    )


def test_a_sign_up_starts_the_double_opt_in_and_answers_202(subscribe, smtp_inbox, topics):  # noqa: F811
    response = subscribe({"email": "Erika@Example.de", "consent_text_version": 1, "topics": ["sonderangebote"]})
    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    erika = Subscriber.objects.get(email="erika@example.de")
    assert erika.status == Subscriber.Status.PENDING
    assert list(erika.subscriptions.values_list("topic__slug", flat=True)) == ["sonderangebote"]
    assert [m["To"] for m in smtp_inbox.mails] == ["erika@example.de"]
    requested = erika.consent_events.get(kind="requested")
    assert requested.source == "api:public" and requested.evidence.ip == "198.51.100.0"


def test_a_sign_up_with_a_token_names_the_client_as_source(subscribe, smtp_inbox, topics, crm):  # noqa: F811
    assert subscribe({"email": "max@example.de", "consent_text_version": 1, "language": "en"}, **crm).status_code == 202
    max_ = Subscriber.objects.get(email="max@example.de")
    assert max_.language == "en" and max_.consent_events.get(kind="requested").source == "api:crm"


def test_new_pending_confirmed_and_suppressed_addresses_get_the_same_answer(
    subscribe,
    smtp_inbox,  # noqa: F811
    topics,
):
    subscribe({"email": "pending@example.de", "consent_text_version": 1})
    Subscriber.objects.create(email="confirmed@example.de", status=Subscriber.Status.CONFIRMED)
    suppress_address("bounced@example.de", reason=Suppression.Reason.BOUNCED)
    answers = {
        (r.status_code, r.content)
        for address in ["new@example.de", "pending@example.de", "confirmed@example.de", "bounced@example.de"]
        for r in [subscribe({"email": address, "consent_text_version": 1})]
    }
    assert len(answers) == 1 and answers.pop()[0] == 202


def test_more_sign_ups_from_one_ip_than_the_limit_answer_429(subscribe, topics, settings, one_rate_window):
    settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE = 2
    codes = [subscribe({"email": f"p{i}@example.de", "consent_text_version": 1}).status_code for i in range(4)]
    assert codes == [202, 202, 429, 429]
    response = subscribe({"email": "other@example.de", "consent_text_version": 1})
    assert response["Retry-After"] == "60"
    assert subscribe({"email": "p9@example.de", "consent_text_version": 1}, ip="203.0.113.1").status_code == 202


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"email": "kein-at", "consent_text_version": 1}, "email: This does not look like a valid e-mail address."),
        ({"email": "a@b.de\r\nBcc: x@y.de", "consent_text_version": 1}, "email: The e-mail address must not contain"),
        ({"email": "a" * 250 + "@b.de", "consent_text_version": 1}, "email: An e-mail address has at most 254"),
        ({"email": "a@b.de", "consent_text_version": 99}, "consent_text_version: no consent text 99 in 'de'"),
        ({"email": "a@b.de", "consent_text_version": 1, "topics": ["gold"]}, "topics: unknown topic(s) 'gold'"),
        ({"email": "a@b.de", "consent_text_version": 1, "language": "fr"}, "language: expected one of de, en"),
        ({"email": "a@b.de"}, "consent_text_version: Field required"),
        ({"email": "a@b.de", "consent_text_version": 2**40}, "consent_text_version: Input should be less than"),
    ],
)
def test_invalid_sign_ups_answer_422_with_a_clear_message_and_change_nothing(subscribe, topics, body, message):
    before = state()
    response = subscribe(body)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert state() == before


def test_a_body_that_is_not_json_is_refused_without_a_500(subscribe, topics):
    assert subscribe(b"\xff{not json").status_code in (400, 422)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=6,
)


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "email": json_values | st.emails(),
            "topics": json_values,
            "consent_text_version": json_values,
            "language": json_values,
        },
    )
)
def test_fuzzed_sign_ups_never_answer_500_and_invalid_input_changes_nothing(subscribe, topics, generous_limits, body):
    before = state()
    response = subscribe(body)
    assert response.status_code in (202, 422), (response.status_code, response.content[:200])
    if response.status_code != 202:
        assert state() == before


def test_admin_endpoints_need_a_valid_bearer_token(client, crm):
    assert client.get("/api/v1/subscribers").status_code == 401
    assert client.get("/api/v1/subscribers", HTTP_AUTHORIZATION="Bearer rb_wrong").status_code == 401
    assert client.get("/api/v1/subscribers", **crm).status_code == 200
    call_command("api-token", "revoke", "crm", stdout=io.StringIO())
    response = client.get("/api/v1/subscribers", **crm)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_subscribers_are_listed_page_by_page_and_filtered_by_status(client, crm, topics):
    for i in range(5):
        Subscriber.objects.create(email=f"p{i}@example.de", status="confirmed" if i % 2 else "pending")
    page = client.get("/api/v1/subscribers?status=pending&per_page=2&page=2", **crm).json()
    assert page["count"] == 3 and page["page"] == 2
    assert [item["email"] for item in page["items"]] == ["p4@example.de"]
    assert client.get("/api/v1/subscribers?status=nonsense", **crm).status_code == 422
    assert client.get("/api/v1/subscribers?page=0", **crm).status_code == 422


def test_a_subscriber_is_read_updated_proven_and_erased_through_the_actions(client, crm, subscribe, topics, smtp_inbox):  # noqa: F811
    subscribe({"email": "erika@example.de", "consent_text_version": 1})
    erika = Subscriber.objects.get(email="erika@example.de")
    url = f"/api/v1/subscribers/{erika.public_id}"
    assert client.get(url, **crm).json()["topics"] == ["finanznachrichten", "produktneuheiten", "sonderangebote"]
    found = client.post(
        "/api/v1/subscribers/lookup", {"email": "Erika@Example.de"}, content_type="application/json", **crm
    )
    assert found.json()["id"] == erika.public_id

    changed = client.patch(url, {"topics": ["finanznachrichten"]}, content_type="application/json", **crm)
    assert changed.status_code == 200 and changed.json()["topics"] == ["finanznachrichten"]
    assert erika.consent_events.get(kind="topics_changed").source == "api:crm"
    assert client.patch(url, {"topics": ["gold"]}, content_type="application/json", **crm).status_code == 422

    proof = client.get(f"{url}/proof", **crm).json()
    assert proof["requested"]["source"] == "api:public" and proof["ledger"]["intact"]
    assert [e["kind"] for e in proof["events"]] == ["requested", "confirmation_sent", "topics_changed"]

    assert client.delete(url, **crm).status_code == 204
    assert not Subscriber.objects.filter(email="erika@example.de").exists()
    assert Suppression.objects.filter(address_hash=subject_hash("erika@example.de")).exists()
    assert client.get(url, **crm).status_code == 404
    after = client.post("/api/v1/proof", {"email": "erika@example.de"}, content_type="application/json", **crm).json()
    assert after["current_status"] == "erased" and after["events"][-1]["source"] == "api:crm"
    assert ledger.verify_chain().intact


def test_the_openapi_schema_is_served_at_api_v1_openapi_json(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["info"]["title"] == "Rundbrief API"
    paths = {"/api/v1/subscriptions", "/api/v1/subscribers", "/api/v1/subscribers/{public_id}/proof"}
    assert paths <= set(schema["paths"])


def test_api_token_create_prints_the_token_once_and_stores_only_its_hash(db):
    out, err = io.StringIO(), io.StringIO()
    call_command("api-token", "create", "Shop Checkout", stdout=out, stderr=err)
    token = out.getvalue().strip()
    record = ApiToken.objects.get(name="Shop Checkout")
    assert token.startswith("rb_") and len(token) > 40
    assert record.token_sha256 == token_digest(token) and token not in str(vars(record))
    assert "not shown again" in err.getvalue()
    listing = io.StringIO()
    call_command("api-token", "list", stdout=listing)
    assert "Shop Checkout" in listing.getvalue() and token not in listing.getvalue()


@pytest.mark.parametrize(
    "scopes, allowed",
    [
        (("signup",), set()),
        (("read",), {"list", "read", "proof"}),
        (("read", "write"), {"list", "read", "proof", "write"}),
        (("erase",), {"erase"}),
    ],
)
def test_a_token_does_only_what_its_scopes_allow(client, topics, scopes, allowed):
    """A shop's sign-up token must not list, change, erase or read the proof of every subscriber."""
    from rundbrief.audience.models import Subscription

    anna = Subscriber.objects.create(email="anna@example.de", status="confirmed")
    Subscription.objects.create(subscriber=anna, topic=topics["finanznachrichten"])
    _record, token = issue_api_token("shop", scopes)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    base = f"/api/v1/subscribers/{anna.public_id}"
    calls = {
        "list": lambda: client.get("/api/v1/subscribers", **auth),
        "read": lambda: client.get(base, **auth),
        "proof": lambda: client.get(base + "/proof", **auth),
        "write": lambda: client.patch(base, {"topics": ["sonderangebote"]}, content_type="application/json", **auth),
        "erase": lambda: client.delete(base, **auth),
    }
    for name, call in calls.items():
        status = call().status_code
        if name in allowed:
            assert status in (200, 204), (name, status)
        else:
            assert status == 403, (name, status)
    assert Subscriber.objects.filter(pk=anna.pk).exists() == ("erase" not in allowed)


def test_a_token_without_the_signup_scope_cannot_sign_people_up(client, topics):
    _record, token = issue_api_token("auswertung", ("read",))
    body = {"email": "neu@example.de", "consent_text_version": 1}
    response = client.post(
        "/api/v1/subscriptions", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 403 and not Subscriber.objects.exists()


def test_api_token_create_takes_scopes_and_refuses_unknown_ones(db):
    out, err = io.StringIO(), io.StringIO()
    call_command("api-token", "create", "crm", "--scopes", "read,write", stdout=out, stderr=err)
    assert ApiToken.objects.get(name="crm").scopes == "read,write"
    with pytest.raises(CommandError, match="scopes: expected some of signup, read, write, erase, got delete"):
        call_command("api-token", "create", "other", "--scopes", "read,delete", stdout=out, stderr=err)
    assert ApiToken.objects.get(name="crm").scopes == "read,write" and not ApiToken.objects.filter(name="other")


@pytest.mark.django_db(transaction=True)
def test_tokens_issued_before_scopes_keep_every_right_after_the_migration():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("api", "0001_initial")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        OldToken = executor.loader.project_state(before).apps.get_model("api", "ApiToken")
        OldToken.objects.create(name="alt", token_sha256="0" * 64)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert ApiToken.objects.get(name="alt").scopes == "signup,read,write,erase"
