"""The sign-up form does not reveal who is subscribed and cannot be used to bomb or inject mail."""

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rundbrief.audience import actions
from rundbrief.audience.models import ConsentEvent, Subscriber, Suppression
from tests.support.smtp import path_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def generous_limits(settings):
    settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE = 100_000
    settings.RUNDBRIEF_SIGNUP_GLOBAL_PER_MINUTE = 100_000


def test_new_pending_confirmed_and_suppressed_addresses_get_the_same_answer(client, sign_up, smtp_inbox, topics):
    """Same status and body for every state; only the new address gets mail (no enumeration: docs/decisions.md, "Sign-up outcomes look alike")."""
    sign_up("pending@example.de")
    sign_up("confirmed@example.de")
    confirm = next(path_of(u) for u in smtp_inbox.links(smtp_inbox.mails[-1]) if "/bestaetigen/" in u)
    client.post(confirm)
    actions.suppress_address("bounced@example.de", reason=Suppression.Reason.BOUNCED, source="test")
    mails_before = len(smtp_inbox.mails)

    answers = {
        a: sign_up(a) for a in ("new@example.de", "pending@example.de", "confirmed@example.de", "bounced@example.de")
    }
    assert {r.status_code for r in answers.values()} == {200}
    assert len({r.content for r in answers.values()}) == 1
    assert (
        len(
            {
                tuple(sorted((k, v) for k, v in r.headers.items() if k not in ("Date", "Expires")))
                for r in answers.values()
            }
        )
        == 1
    )
    assert [m["To"] for m in smtp_inbox.mails[mails_before:]] == ["new@example.de"]


def test_a_thousand_sign_ups_of_one_address_in_a_minute_send_at_most_one_mail(
    sign_up, smtp_inbox, topics, generous_limits
):
    """At most one request mail per address per 24 h, and repeated requests do not grow the ledger."""
    for _ in range(1000):
        assert sign_up("victim@example.de").status_code == 200
    assert len(smtp_inbox.mails) == 1
    assert ConsentEvent.objects.filter(kind="requested").count() == 1


def test_more_sign_ups_from_one_ip_than_the_limit_answer_429(sign_up, smtp_inbox, topics, settings, one_rate_window):
    """The per-IP window is counted in the database, so it holds across workers."""
    settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE = 3
    codes = [sign_up(f"r{i}@example.de", ip="192.0.2.9").status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert sign_up("other@example.de", ip="192.0.2.10").status_code == 200
    assert len(smtp_inbox.mails) == 4


def test_the_global_breaker_answers_429_for_everyone_once_tripped(
    sign_up, smtp_inbox, topics, settings, one_rate_window
):
    """A flood from many addresses trips the breaker; requests beyond it send nothing."""
    settings.RUNDBRIEF_SIGNUP_GLOBAL_PER_MINUTE = 2
    codes = [sign_up(f"r{i}@example.de", ip=f"192.0.2.{i}").status_code for i in range(4)]
    assert codes == [200, 200, 429, 429]
    assert len(smtp_inbox.mails) == 2


def test_a_filled_honeypot_looks_like_success_but_does_nothing(sign_up, smtp_inbox, topics):
    """Bots fill every field; they get the usual page and no mail, and no subscriber is stored."""
    response = sign_up("bot@example.de", website="http://spam.example")
    assert response.status_code == 200
    assert Subscriber.objects.count() == 0 and not smtp_inbox.mails


@pytest.mark.parametrize("address", ["a@b.de\r\nBcc: x@y.de", "a@b.de\nBcc: x@y.de", "a@b.de\x00", "a\tb@c.de"])
def test_header_injection_is_refused_with_a_clear_message(sign_up, smtp_inbox, topics, address):
    """CR, LF and other control characters answer 400 with the form and a clear message; nothing is stored."""
    response = sign_up(address)
    assert response.status_code == 400
    assert (
        "line breaks or other control characters" in response.content.decode()
        or "Zeilenumbr" in response.content.decode()
    )
    assert Subscriber.objects.count() == 0 and not smtp_inbox.mails


def test_an_address_longer_than_254_characters_is_refused(sign_up, topics):
    """RFC 5321 limits a path to 256 octets including the angle brackets."""
    response = sign_up("a" * 64 + "@" + ".".join(["b" * 63] * 3) + ".de")  # 259 characters
    assert response.status_code == 400
    assert Subscriber.objects.count() == 0


def test_an_unknown_consent_text_version_is_refused(sign_up, topics):
    """The form must carry the text it showed; without a known version there is no proof."""
    assert sign_up("anna@example.de", consent_text="999999").status_code == 400
    assert sign_up("anna@example.de", consent_text="abc").status_code == 400
    assert Subscriber.objects.count() == 0


field_values = st.one_of(st.text(max_size=300), st.sampled_from(["", "a@b.de", "x@y", "@", "1", "-1", "0"]))


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    email=field_values,
    consent=field_values,
    website=st.sampled_from(["", "x"]),
    topics_=st.lists(st.text(max_size=30), max_size=3),
    page=field_values,
)
def test_fuzzed_sign_up_never_answers_500_and_invalid_input_changes_nothing(
    client, generous_limits, email, consent, website, topics_, page
):
    """Whatever the form receives: 200, 400 or 429, never 500; a 400 leaves the database as it was."""
    before = (Subscriber.objects.count(), ConsentEvent.objects.count())
    data = {"email": email, "consent_text": consent, "website": website, "topics": topics_, "page": page}
    response = client.post("/newsletter/", data)
    assert response.status_code in (200, 400, 429)
    if response.status_code == 400 or website:
        assert (Subscriber.objects.count(), ConsentEvent.objects.count()) == before
