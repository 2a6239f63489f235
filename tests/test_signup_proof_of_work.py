"""The sign-up form's proof-of-work (audience/proofofwork.py): a solved challenge signs up once; a
missing, forged, expired or replayed one is refused with the address kept and nothing stored."""

import base64
import json
import time

import altcha
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rundbrief.audience import proofofwork
from rundbrief.audience.models import ConsentEvent, SignupIntake, Subscriber
from rundbrief.db import windows
from rundbrief.db.models import RateWindow


@pytest.fixture
def proof_of_work(settings, smtp_inbox, topics):
    settings.RUNDBRIEF_SIGNUP_PROOF_OF_WORK = True
    settings.RUNDBRIEF_SIGNUP_PROOF_OF_WORK_DIFFICULTY = 2000  # quick to solve in Python
    return smtp_inbox


def solve(challenge):
    """What the browser's worker does (static rundbrief/proofofwork-worker.js), in Python."""
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxNumber"], 0
    )
    payload = {key: challenge[key] for key in ("algorithm", "challenge", "salt", "signature")}
    return base64.b64encode(json.dumps({**payload, "number": solution.number}).encode()).decode()


def fetch_and_solve(client):
    response = client.get("/newsletter/challenge/")
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    return solve(response.json())


def nothing_stored():
    return not (Subscriber.objects.exists() or ConsentEvent.objects.exists() or SignupIntake.objects.exists())


def test_a_solved_challenge_signs_up_and_the_confirmation_mail_goes_out(client, sign_up, proof_of_work):
    response = sign_up("leserin@example.org", altcha=fetch_and_solve(client))
    assert response.status_code == 200
    assert Subscriber.objects.get().email == "leserin@example.org"
    assert len(proof_of_work.messages) == 1


def test_a_replayed_solution_is_refused_and_signs_nobody_up(client, sign_up, proof_of_work):
    solution = fetch_and_solve(client)
    assert sign_up("erste@example.org", altcha=solution).status_code == 200
    response = sign_up("zweite@example.org", altcha=solution)
    assert response.status_code == 400
    page = response.content.decode()
    assert "bereits verwendet" in page and 'value="zweite@example.org"' in page
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["erste@example.org"]


def test_a_sign_up_without_a_solution_asks_for_javascript_and_keeps_the_address(sign_up, proof_of_work):
    response = sign_up("leserin@example.org")
    assert response.status_code == 400
    page = response.content.decode()
    assert "JavaScript" in page and 'value="leserin@example.org"' in page
    assert nothing_stored() and proof_of_work.messages == []


def test_an_expired_challenge_is_refused(client, sign_up, proof_of_work):
    issued = time.time() - proofofwork.CHALLENGE_SECONDS - 1
    response = sign_up("leserin@example.org", altcha=solve(proofofwork.new_challenge(now=issued)))
    assert response.status_code == 400 and "abgelaufen" in response.content.decode()
    assert nothing_stored()


def test_a_wrong_number_or_a_challenge_signed_with_another_key_is_refused(client, sign_up, proof_of_work, settings):
    payload = json.loads(base64.b64decode(fetch_and_solve(client)))
    wrong = base64.b64encode(json.dumps({**payload, "number": payload["number"] + 1}).encode()).decode()
    assert sign_up("leserin@example.org", altcha=wrong).status_code == 400
    settings.SECRET_KEY = "another-key-" * 5
    foreign = fetch_and_solve(client)
    settings.SECRET_KEY = "yet-another-key-" * 5
    assert sign_up("leserin@example.org", altcha=foreign).status_code == 400
    assert nothing_stored()


def test_the_form_carries_the_check_only_when_it_is_on(client, settings, topics):
    settings.RUNDBRIEF_SIGNUP_PROOF_OF_WORK = False
    assert "data-proof-of-work" not in client.get("/newsletter/").content.decode()
    assert client.get("/newsletter/challenge/").status_code == 404
    settings.RUNDBRIEF_SIGNUP_PROOF_OF_WORK = True
    page = client.get("/newsletter/").content.decode()
    assert 'name="altcha"' in page and 'role="status"' in page and "proofofwork.js" in page


def test_with_the_check_off_the_form_signs_up_without_it(sign_up, smtp_inbox, topics, settings):
    settings.RUNDBRIEF_SIGNUP_PROOF_OF_WORK = False
    assert sign_up("leserin@example.org").status_code == 200
    assert Subscriber.objects.count() == 1


garbage = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=5)),
        max_leaves=10,
    ).map(lambda value: base64.b64encode(json.dumps(value).encode()).decode()),
    st.fixed_dictionaries(
        {
            "algorithm": st.sampled_from(["SHA-256", "SHA-1", "MD5", ""]),
            "challenge": st.text(max_size=70),
            "number": st.one_of(st.integers(), st.text(max_size=5), st.booleans()),
            "salt": st.text(max_size=40),
            "signature": st.text(max_size=70),
        }
    ).map(lambda value: base64.b64encode(json.dumps(value).encode()).decode()),
)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=garbage)
def test_garbage_in_the_field_is_refused_with_a_400_never_a_500(client, proof_of_work, value):
    data = {"email": "leserin@example.org", "consent_text": 1, "altcha": value}
    response = client.post("/newsletter/", data, REMOTE_ADDR="203.0.113.5")
    assert response.status_code in (400, 429)
    assert nothing_stored()


def test_a_spent_solution_is_forgotten_by_purge_once_its_challenge_has_expired(client, proof_of_work):
    solution = proofofwork.check(fetch_and_solve(client))
    proofofwork.spend(solution)
    with pytest.raises(proofofwork.Refused):
        proofofwork.spend(solution)
    assert windows.forget_old_windows(now=solution.expires) == 0  # kept while the challenge is valid
    later = solution.expires + proofofwork.CHALLENGE_SECONDS + 3601
    assert windows.forget_old_windows(now=later) == 1
    assert not RateWindow.objects.filter(key__startswith="pow:").exists()


def test_the_api_does_not_ask_for_the_proof_of_work(client, proof_of_work, django_capture_on_commit_callbacks):
    body = {"email": "kundin@example.org", "consent_text_version": 1}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/subscriptions", json.dumps(body), content_type="application/json")
    assert response.status_code == 202
    assert Subscriber.objects.get().email == "kundin@example.org"
