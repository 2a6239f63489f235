"""Strangers' input on the public pages and the links in mails: never a 500, and nothing changes
unless the input was a valid request of the person the link belongs to.

The sign-up form and the API have fuzz tests of their own (test_signup_abuse.py, test_api.py);
these cover the confirm, unsubscribe, preference and download links and the reading pages.
"""

import string

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rundbrief.audience import ledger, tokens
from rundbrief.audience.models import ConsentEvent, Subscriber
from tests.support.readers import reader

FUZZ = hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# What the URL converter lets through (audience/urls.py, TokenConverter), and a little beyond it.
token_shaped = st.from_regex(r"[A-Za-z0-9_\-:]{10,300}", fullmatch=True)
any_text = st.text(max_size=200)  # control characters and NUL included: PostgreSQL refuses NUL in text
form_data = st.dictionaries(
    st.one_of(st.sampled_from(["action", "topics", "List-Unsubscribe", "email", "csrfmiddlewaretoken"]), any_text),
    st.one_of(any_text, st.lists(any_text, max_size=4)),
    max_size=5,
)
LINKS = ["/newsletter/bestaetigen/{}/", "/u/{}", "/p/{}", "/d/{}"]


def state():
    """What a request must not change unless it was valid: every subscriber's status and topics, and the ledger."""
    people = {
        s.email: (s.status, sorted(s.subscriptions.values_list("topic__slug", flat=True)))
        for s in Subscriber.objects.order_by("pk")
    }
    return people, ConsentEvent.objects.count()


@pytest.fixture
def people(db, topics):
    return [reader("bestaetigt@example.de"), reader("offen@example.de", confirm=False)]


def forged(token):
    """The same token with one character of its signature changed: well-formed, not valid."""
    head, signature = token.rsplit(":", 1)
    swapped = "A" if signature[0] != "A" else "B"
    return f"{head}:{swapped}{signature[1:]}"


@FUZZ
@given(link=st.sampled_from(LINKS), token=token_shaped, method=st.sampled_from(["get", "post"]), data=form_data)
def test_a_made_up_token_on_any_mailed_link_answers_without_a_500_and_changes_nothing(
    client, people, link, token, method, data
):
    before = state()
    response = getattr(client, method)(link.format(token), data)
    assert response.status_code < 500
    assert response.status_code in (200, 400, 404, 405, 410)
    assert state() == before


@FUZZ
@given(purpose=st.sampled_from([tokens.CONFIRM, tokens.UNSUBSCRIBE, tokens.PREFERENCES, tokens.EXPORT]), data=form_data)
def test_a_forged_signature_opens_nothing_whatever_is_posted(client, people, purpose, data):
    person = people[0] if purpose != tokens.CONFIRM else people[1]
    nonce = person.confirm_nonce if purpose == tokens.CONFIRM else ""
    token = forged(tokens.make_token(purpose, person.public_id, nonce))
    link = {
        tokens.CONFIRM: LINKS[0],
        tokens.UNSUBSCRIBE: LINKS[1],
        tokens.PREFERENCES: LINKS[2],
        tokens.EXPORT: LINKS[3],
    }[purpose]
    before = state()
    for method in ("get", "post"):
        response = getattr(client, method)(link.format(token), data)
        assert response.status_code < 500
        assert b"bestaetigt@example.de" not in response.content  # a download of somebody's data
    assert state() == before


@FUZZ
@given(data=form_data)
def test_any_post_to_a_valid_preference_link_is_answered_and_keeps_the_ledger_whole(client, people, data):
    person = people[0]
    response = client.post(f"/p/{tokens.make_token(tokens.PREFERENCES, person.public_id)}", data)
    assert response.status_code in (200, 303, 400, 429)
    person.refresh_from_db()
    topics = set(person.subscriptions.values_list("topic__slug", flat=True))
    assert topics <= {"produktneuheiten", "finanznachrichten", "sonderangebote"}
    if data.get("action") == "withdraw":
        assert person.status == Subscriber.Status.WITHDRAWN
    assert ledger.verify_chain().intact


@FUZZ
@given(data=form_data)
def test_a_one_click_post_without_the_rfc_8058_body_is_refused_and_withdraws_nobody(client, people, data):
    if data.get("List-Unsubscribe") == "One-Click":
        data = {**data, "List-Unsubscribe": "One-Click!"}
    person = people[0]
    before = state()
    response = client.post(f"/u/{tokens.make_token(tokens.UNSUBSCRIBE, person.public_id)}", data)
    assert response.status_code == 400
    assert state() == before


printable_slug = st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=60)


@FUZZ
@given(query=any_text, page=any_text, slug=printable_slug)
def test_reading_pages_answer_any_query_without_a_500(client, demo_site, query, page, slug):
    for path, params in [
        ("/suche/", {"q": query}),
        ("/", {"page": page}),
        ("/suche/", {"q": query, "page": page}),
        (f"/themen/{slug}/", {"page": page}),
        (f"/artikel/{slug}/", {}),
        (f"/themen/{slug}/feed/rss/", {}),
        (f"/{slug}/", {}),
    ]:
        response = client.get(path, params)
        assert response.status_code in (200, 404), (path, params, response.status_code)
