"""Every way in creates a subscriber the same way: its topics, its `requested`/`imported` event, the chain intact."""

import pytest

from rundbrief.audience import actions, intake, ledger
from rundbrief.audience.importer import import_subscribers
from rundbrief.audience.models import ConsentEvent, ConsentText, Subscriber

pytestmark = pytest.mark.django_db
EVERY = ["finanznachrichten", "produktneuheiten", "sonderangebote"]


def topics_of(address):
    return sorted(Subscriber.objects.get(email=address).subscriptions.values_list("topic__slug", flat=True))


def request(address, topics=()):
    return actions.prepare_subscription_request(
        address, consent_text=ConsentText.current("de"), topics=topics, source="test", ip="203.0.113.9"
    )


def test_a_sign_up_without_topics_consents_to_every_topic_on_each_path(topics, tmp_path):
    actions.submit_subscription_request(request("eins@example.de"))  # one at a time
    actions.receive_subscription_request(request("zwei@example.de"))  # the intake's batch
    intake.apply_received()
    path = tmp_path / "kunden.csv"
    path.write_text(
        "email,topics,consented_at,confirmed_at,source,ip,consent_text_version\n"
        "drei@example.de,,,2024-03-01T09:41:00,,,\nvier@example.de,|,,2024-03-01T09:41:00,,,\n",
        encoding="utf-8",
    )
    import_subscribers(path, consent_basis="Altbestand aus dem Shop")
    for address in ["eins@example.de", "zwei@example.de", "drei@example.de", "vier@example.de"]:
        assert topics_of(address) == EVERY, address
    kinds = dict(ConsentEvent.objects.values_list("subscriber__email", "kind"))
    assert kinds["eins@example.de"] == kinds["zwei@example.de"] == "requested"
    assert kinds["drei@example.de"] == "imported"
    assert ledger.verify_chain().intact


def test_the_one_at_a_time_sign_up_stores_its_event_as_the_ledger_appends_it(topics):
    """The creation writes through the batch append; the event and its evidence equal append_event's."""
    outcome = actions.submit_subscription_request(request("fuenf@example.de", topics=["sonderangebote"]))
    event = ConsentEvent.objects.get(subscriber=outcome.subscriber)
    assert (event.kind, event.topics, event.source) == ("requested", ["sonderangebote"], "test")
    assert event.evidence.ip == "203.0.113.0"  # truncated, GDPR Art. 5(1)(c)
    assert event.consent_text == ConsentText.current("de") and event.consent_text_sha256
    assert outcome.mail_queued and outcome.subscriber.confirm_nonce
    assert Subscriber.objects.get(pk=outcome.subscriber.pk).confirm_nonce == outcome.subscriber.confirm_nonce
    assert ledger.verify_chain().intact
