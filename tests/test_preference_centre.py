"""The preference centre says whose settings it shows, what is stored, and what unticking everything means."""

import re

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rundbrief.audience import actions, ledger, tokens
from rundbrief.audience.models import ConsentEvent, ConsentText, Subscriber
from tests.support.smtp import path_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def berta(topics):
    """A confirmed reader of all three topics."""
    outcome = actions.request_subscription("berta@example.de", consent_text=ConsentText.current("de"), source="test")
    subscriber = outcome.subscriber
    subscriber.refresh_from_db()
    actions.confirm_subscription(tokens.make_token(tokens.CONFIRM, subscriber.public_id, subscriber.confirm_nonce))
    subscriber.refresh_from_db()
    return subscriber


def prefs(subscriber):
    return f"/p/{tokens.make_token(tokens.PREFERENCES, subscriber.public_id)}"


def checked_topics(html):
    return sorted(re.findall(r'<input type="checkbox" name="topics" value="([a-z]+)"[^>]*checked', html))


def test_the_page_names_the_address_it_manages_masked(client, berta):
    html = client.get(prefs(berta)).content.decode()
    assert "b•••a@example.de" in html
    assert "berta@example.de" not in html  # a forwarded newsletter does not hand out the address


def test_after_saving_the_page_shows_what_the_database_holds(client, berta):
    url = prefs(berta)
    response = client.post(url, {"action": "save", "topics": ["sonderangebote", "unbekannt-ist-egal"]})
    assert response.status_code == 400  # an unknown topic: nothing is saved
    assert sorted(berta.subscriptions.values_list("topic__slug", flat=True)) == [
        "finanznachrichten",
        "produktneuheiten",
        "sonderangebote",
    ]
    response = client.post(url, {"action": "save", "topics": ["sonderangebote"]})
    assert response.status_code == 303 and response["Location"] == f"{url}?done=saved"
    page = client.get(response["Location"]).content.decode()
    assert checked_topics(page) == ["sonderangebote"]
    assert "Ihre Auswahl ist gespeichert" in page


def test_unticking_every_topic_asks_first_and_changes_nothing_until_confirmed(client, berta):
    url = prefs(berta)
    response = client.post(url, {"action": "save"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "melden Sie sich vom Newsletter ab" in html and "widerrufen Ihre Einwilligung" in html
    assert 'name="action" value="withdraw"' in html and 'class="button-danger"' in html
    berta.refresh_from_db()
    assert berta.status == Subscriber.Status.CONFIRMED
    assert berta.subscriptions.count() == 3
    assert not ConsentEvent.objects.filter(kind="withdrawn").exists()


def test_confirming_the_untick_all_unsubscribes_and_a_reload_shows_the_withdrawn_state(client, berta):
    url = prefs(berta)
    response = client.post(url, {"action": "withdraw"})
    assert response.status_code == 303 and response["Location"] == f"{url}?done=withdrawn"
    berta.refresh_from_db()
    assert berta.status == Subscriber.Status.WITHDRAWN
    for page in (client.get(response["Location"]), client.get(url)):  # after the redirect, and a plain reload
        html = page.content.decode()
        assert "abgemeldet" in html.lower() or "widerrufen" in html
        assert 'value="withdraw"' not in html  # no "unsubscribe" button for someone unsubscribed
        assert 'value="resubscribe"' in html


def test_a_withdrawn_reader_who_ticks_topics_is_not_told_saved_but_offered_a_fresh_sign_up(client, berta):
    actions.withdraw_consent(berta)
    url = prefs(berta)
    events = ConsentEvent.objects.count()
    response = client.post(url, {"action": "save", "topics": ["finanznachrichten"]})
    html = response.content.decode()
    assert response.status_code == 200
    assert "gespeichert" not in html.replace("nicht gespeichert", "")
    assert 'value="resubscribe"' in html and checked_topics(html) == ["finanznachrichten"]
    berta.refresh_from_db()
    assert berta.status == Subscriber.Status.WITHDRAWN and ConsentEvent.objects.count() == events


def test_the_fresh_sign_up_creates_a_new_pending_request_and_mails_a_new_confirmation_link(
    client, berta, smtp_inbox, django_capture_on_commit_callbacks
):
    actions.withdraw_consent(berta)
    url = prefs(berta)
    old_nonce = berta.confirm_nonce
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {"action": "resubscribe", "topics": ["finanznachrichten"], "consent_text": ConsentText.current("de").pk},
        )
    assert response.status_code == 303 and response["Location"] == f"{url}?done=requested"
    berta.refresh_from_db()
    assert berta.status == Subscriber.Status.PENDING and berta.confirm_nonce != old_nonce
    assert list(berta.subscriptions.values_list("topic__slug", flat=True)) == ["finanznachrichten"]
    assert ConsentEvent.objects.filter(subscriber=berta, kind="requested").count() == 2
    (mail,) = smtp_inbox.mails
    assert mail["To"] == "berta@example.de"
    link = next(path_of(u) for u in smtp_inbox.links(mail) if "/newsletter/bestaetigen/" in u)
    assert client.post(link).status_code == 200
    berta.refresh_from_db()
    assert berta.status == Subscriber.Status.CONFIRMED


def test_the_three_actions_look_distinct(client, berta):
    html = client.get(prefs(berta)).content.decode()
    assert 'value="save" class="button-primary"' in html
    assert 'value="withdraw" class="button-danger"' in html
    assert 'value="export" class="button-secondary"' in html


def test_a_forged_preference_link_is_a_404(client, berta):
    assert client.get(prefs(berta)[:-2] + "xx").status_code == 404
    assert client.post(prefs(berta)[:-2] + "xx", {"action": "withdraw"}).status_code == 404


form_data = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["save", "withdraw", "export", "resubscribe", "", "x"]),
        "topics": st.lists(st.sampled_from(["produktneuheiten", "finanznachrichten", "sonderangebote", "", "x"])),
        "consent_text": st.one_of(st.text(max_size=12), st.just("1")),
    }
)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=form_data, withdrawn=st.booleans())
def test_fuzzed_preference_posts_never_answer_500_and_lose_nothing(client, berta, settings, data, withdrawn):
    settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE = 10**6
    settings.RUNDBRIEF_SIGNUP_GLOBAL_PER_MINUTE = 10**6
    if withdrawn:
        actions.withdraw_consent(berta)
    berta.refresh_from_db()
    status_before = berta.status
    topics_before = sorted(berta.subscriptions.values_list("topic__slug", flat=True))
    response = client.post(prefs(berta), data)
    assert response.status_code in (200, 303, 400)
    berta.refresh_from_db()
    topics_after = sorted(berta.subscriptions.values_list("topic__slug", flat=True))
    if response.status_code != 303:  # not acted on: exactly as before
        assert (berta.status, topics_after) == (status_before, topics_before)
    assert ledger.verify_chain().intact
