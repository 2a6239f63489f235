"""The sign-up intake (rundbrief/audience/intake.py): answered at once, applied in batches, mailed durably.

Invariants, each with the test that would catch its violation:
- an answered sign-up is never lost: it is committed before the answer and a worker applies it
  even when the web process that took it is gone;
- a confirmation request is sent at least once, also when the sender dies between sending and
  recording, and recorded once;
- a failed mail is tried again later, and the address may ask again at once meanwhile;
- an address entered twice in one batch gets one subscriber and one mail;
- the mail built by substitution in a batch is the mail sent on its own.
"""

import io
import json
import re
import threading
import time
from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest
from django.core import mail as django_mail
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rundbrief.audience import actions, confirmations, intake, ledger, mail, queries, tokens
from rundbrief.audience.models import ConsentEvent, ConsentText, SignupIntake, Subscriber
from rundbrief.newsroom.models import Topic
from tests.support.smtp import LINK, path_of

pytestmark = pytest.mark.django_db(transaction=True)  # drains commit for real, as in production
Stage = SignupIntake.Stage


def post_api(client, address, **extra):
    body = {"email": address, "consent_text_version": 1, **extra}
    return client.post(
        "/api/v1/subscriptions",
        json.dumps(body),
        content_type="application/json",
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT="Testbrowser/1.0",
    )


@pytest.fixture
def queued(settings):
    """Web processes only answer; nothing is applied until a drain runs (RUNDBRIEF_SIGNUP_PROCESSING=worker)."""
    settings.RUNDBRIEF_SERVICE_MAIL_ASYNC = True
    settings.RUNDBRIEF_SIGNUP_PROCESSING = "worker"


def receive(address, **extra):
    request = actions.prepare_subscription_request(
        address,
        consent_text=ConsentText.current("de"),
        source="test",
        ip="198.51.100.23",
        user_agent="Testbrowser/1.0",
        **extra,
    )
    actions.receive_subscription_request(request)
    return request


def confirm_link(message):
    return next(u for u in message_links(message) if "/bestaetigen/" in u)


def message_links(message):
    return LINK.findall(message.get_body(preferencelist=("plain",)).get_content())


def test_the_answer_comes_before_any_lookup_and_the_request_is_applied_with_its_own_time(
    client, queued, smtp_inbox, topics
):
    assert post_api(client, "Neu@Example.DE", topics=["sonderangebote"]).status_code == 202
    row = SignupIntake.objects.get()
    assert (row.stage, row.email, row.topics, row.ip) == (
        Stage.RECEIVED,
        "neu@example.de",
        ["sonderangebote"],
        "203.0.113.0",
    )
    assert not Subscriber.objects.exists() and not ConsentEvent.objects.exists() and smtp_inbox.mails == []

    time.sleep(0.01)
    assert intake.drain() == 2  # applied, then mailed
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.PENDING
    assert list(subscriber.subscriptions.values_list("topic__slug", flat=True)) == ["sonderangebote"]
    # The mail names the chosen topics as the site lists them.
    assert (
        "Topics: Sonderangebote" in smtp_inbox.mails[0].get_body(("plain",)).get_content()
        or "Themen: Sonderangebote" in smtp_inbox.mails[0].get_body(("plain",)).get_content()
    )
    requested, sent = ConsentEvent.objects.order_by("pk")
    assert (requested.kind, sent.kind) == ("requested", "confirmation_sent")
    # GDPR Art. 7(1): the proof names when the reader asked, not when a batch got to it.
    assert requested.occurred_at == row.received_at < sent.occurred_at
    assert requested.evidence.ip == "203.0.113.0" and requested.evidence.user_agent == "Testbrowser/1.0"
    assert sent.message_id == smtp_inbox.mails[0]["Message-ID"]
    assert not SignupIntake.objects.exists()
    assert ledger.verify_chain().intact

    response = client.post(path_of(confirm_link(smtp_inbox.mails[0])))
    assert response.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED


def test_a_worker_applies_what_a_dead_web_process_left_and_sends_its_mail(queued, smtp_inbox, topics):
    receive("verwaist@example.de")  # committed, and the process that took it is gone: nobody kicked a drain
    stop = threading.Event()
    drainer = intake.Drainer(stop, poll=0.05)
    drainer.start()
    try:
        deadline = time.monotonic() + 20
        while not smtp_inbox.mails and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        drainer.join(20)
    assert [m["To"] for m in smtp_inbox.mails] == ["verwaist@example.de"]
    assert not drainer.is_alive()
    assert list(ConsentEvent.objects.values_list("kind", flat=True).order_by("pk")) == [
        "requested",
        "confirmation_sent",
    ]


def test_a_sender_that_dies_after_sending_leaves_the_mail_to_be_sent_again_and_recorded_once(
    queued, smtp_inbox, topics, monkeypatch
):
    receive("einmal@example.de")
    assert intake.apply_received() == 1

    def die(*args):
        raise SystemExit("killed between sending and recording")

    monkeypatch.setattr(confirmations, "_record", die)
    with pytest.raises(SystemExit):
        confirmations.send_due()
    monkeypatch.undo()
    assert len(smtp_inbox.mails) == 1
    row = SignupIntake.objects.get()
    assert row.stage == Stage.MAIL and row.attempts == 1 and row.lease_until > timezone.now()
    assert intake.drain() == 0, "the lease keeps other senders away while its holder may still record"

    SignupIntake.objects.update(lease_until=timezone.now() - timedelta(seconds=1))  # the lease ran out
    assert intake.drain() == 1
    assert [m["To"] for m in smtp_inbox.mails] == ["einmal@example.de"] * 2
    # Both copies carry a working link to the same request (the signed time in the token may differ by
    # a second between the copies, so the tokens are compared by what they name, not byte for byte);
    # the ledger names the copy that was recorded.
    first, second = (confirm_link(m).rstrip("/").rsplit("/", 1)[1] for m in smtp_inbox.mails)
    assert tokens.read_token(tokens.CONFIRM, first) == tokens.read_token(tokens.CONFIRM, second)
    sent = ConsentEvent.objects.filter(kind=ConsentEvent.Kind.CONFIRMATION_SENT)
    assert list(sent.values_list("message_id", flat=True)) == [smtp_inbox.mails[1]["Message-ID"]]
    assert not SignupIntake.objects.exists()


def test_a_refused_mail_is_tried_again_later_and_the_address_may_ask_again_meanwhile(queued, smtp_inbox, topics):
    refuse = {"on": True}
    original = smtp_inbox.handle_DATA

    async def handle_data(server, session, envelope):
        if refuse["on"]:
            return "451 4.3.0 try again later"
        return await original(server, session, envelope)

    smtp_inbox.handle_DATA = handle_data
    receive("wackelig@example.de")
    intake.drain()
    row = SignupIntake.objects.get()
    assert (row.stage, row.attempts) == (Stage.MAIL, 1)
    assert row.lease_until > timezone.now() + timedelta(seconds=50), "backs off before the next attempt"
    subscriber = Subscriber.objects.get()
    assert subscriber.last_confirmation_mail_at is None  # the day's allowance is given back
    assert not ConsentEvent.objects.filter(kind=ConsentEvent.Kind.CONFIRMATION_SENT).exists()

    refuse["on"] = False
    SignupIntake.objects.update(lease_until=timezone.now())  # the retry is due
    intake.drain()
    assert [m["To"] for m in smtp_inbox.mails] == ["wackelig@example.de"]
    assert not SignupIntake.objects.exists()


def test_a_mail_refused_every_time_is_given_up_after_the_last_attempt(queued, smtp_inbox, topics):
    async def refuse(server, session, envelope):
        return "554 5.7.1 no"

    smtp_inbox.handle_DATA = refuse
    receive("nie@example.de")
    for _ in range(confirmations.MAX_ATTEMPTS):
        SignupIntake.objects.update(lease_until=timezone.now())
        intake.drain()
    assert not SignupIntake.objects.exists()
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING  # the request stays; asking again mails


def test_the_mail_lists_every_topic_in_the_order_of_the_site_menu(queued, smtp_inbox, topics):
    receive("alle@example.de")
    intake.drain()
    text = smtp_inbox.mails[0].get_body(("plain",)).get_content()
    listed = next(line for line in text.splitlines() if line.startswith(("Themen:", "Topics:")))
    assert listed.split(":", 1)[1].strip() == ", ".join(Topic.objects.values_list("name", flat=True))


def test_an_address_entered_twice_in_one_batch_gets_one_subscriber_and_one_mail(queued, smtp_inbox, topics):
    for _ in range(3):
        receive("doppelt@example.de")
    receive("andere@example.de")
    intake.drain()
    assert Subscriber.objects.count() == 2
    assert sorted(m["To"] for m in smtp_inbox.mails) == ["andere@example.de", "doppelt@example.de"]
    # The repeats came while the first mail was fresh: no new request mail and no new event (mail bombing).
    assert ConsentEvent.objects.filter(kind="requested").count() == 2
    assert not SignupIntake.objects.exists()


def test_a_confirmed_address_that_signs_up_again_gets_nothing_and_stays_confirmed(queued, smtp_inbox, topics):
    receive("treu@example.de")
    intake.drain()
    subscriber = Subscriber.objects.get()
    from rundbrief.audience import tokens

    actions.confirm_subscription(tokens.make_token(tokens.CONFIRM, subscriber.public_id, subscriber.confirm_nonce))
    receive("treu@example.de")
    intake.drain()
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED and len(smtp_inbox.mails) == 1


def test_a_sign_up_erased_before_its_mail_left_gets_no_mail(queued, smtp_inbox, topics):
    receive("weg@example.de")
    intake.apply_received()
    actions.erase_subscriber(Subscriber.objects.get(), source="test")
    receive("auch-weg@example.de")  # still in the intake, not yet a subscriber
    assert SignupIntake.objects.filter(email="auch-weg@example.de").exists()
    intake.drain()
    assert [m["To"] for m in smtp_inbox.mails] == ["auch-weg@example.de"]


def test_erasure_removes_the_address_from_the_intake_too(queued, topics):
    receive("loeschen@example.de")
    intake.apply_received()
    receive("loeschen@example.de")  # a second request, not yet applied
    actions.erase_subscriber(Subscriber.objects.get(), source="test")
    assert not SignupIntake.objects.filter(email="loeschen@example.de").exists()


def test_two_drains_at_once_apply_and_mail_every_sign_up_once(queued, smtp_inbox, topics):
    addresses = [f"parallel{i}@example.de" for i in range(120)]
    for address in addresses:
        receive(address)
    errors = []

    def drain():
        try:
            intake.drain()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(m["To"] for m in smtp_inbox.mails) == sorted(addresses)
    assert Subscriber.objects.count() == 120
    assert ConsentEvent.objects.filter(kind="confirmation_sent").count() == 120
    assert ledger.verify_chain().intact


def send_in_a_batch(subscriber, topic_names):
    """One confirmation request the way the intake's batches send it (mail.ConfirmationMails)."""
    mails = mail.ConfirmationMails()
    try:
        return mails.send(subscriber, "n0nce", topic_names)
    finally:
        mails.close()


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_mail_built_in_a_batch_is_the_mail_sent_on_its_own(smtp_inbox, topics, language, settings):
    subscriber = Subscriber.objects.create(email="vergleich@example.de", language=language, confirm_nonce="n0nce")
    names = ["Produktneuheiten", "Münzen & Barren <neu>"]
    fast_id = send_in_a_batch(subscriber, names)
    slow_id = mail.send_confirmation_request(subscriber, "n0nce", names)
    fast, slow = smtp_inbox.mails
    assert fast["Message-ID"] == fast_id and slow["Message-ID"] == slow_id
    for header in ("From", "To", "Subject", "Auto-Submitted", "MIME-Version"):
        assert fast[header] == slow[header], header
    # The links carry a timestamp (they expire): compare them apart from the rest, which must be equal.
    link = re.compile(r"http://news\.musterhaus\.example/[^\s\"<]*/bestaetigen/[^\s\"<]+")
    for part in ("plain", "html"):
        fast_body, slow_body = fast.get_body((part,)).get_content(), slow.get_body((part,)).get_content()
        assert len(link.findall(fast_body)) == len(link.findall(slow_body)) >= 1, part
        assert link.sub("LINK", fast_body) == link.sub("LINK", slow_body), part
    fast_link = link.findall(fast.get_body(("plain",)).get_content())[0]
    fast_token = fast_link.rstrip("/").rsplit("/", 1)[1]
    assert queries.pending_subscriber(fast_token) == subscriber
    slow_link = link.findall(slow.get_body(("plain",)).get_content())[0]
    assert fast_link.rsplit("/", 2)[0] == slow_link.rsplit("/", 2)[0]  # the same path up to the token
    assert fast.get_content_type() == slow.get_content_type() == "multipart/alternative"
    assert smtp_inbox.messages[0].mail_from == smtp_inbox.messages[1].mail_from
    assert smtp_inbox.messages[0].rcpt_tos == ["vergleich@example.de"]


def test_an_address_outside_ascii_gets_its_mail_over_smtputf8(smtp_inbox, topics):
    """RFC 6531: the envelope and the To header carry the address as written, not an encoded form."""
    subscriber = Subscriber.objects.create(email="jürgen@beispiel.de", confirm_nonce="n0nce")
    message_id = send_in_a_batch(subscriber, [])
    (message,) = smtp_inbox.mails
    assert message["Message-ID"] == message_id and "jürgen@beispiel.de" in smtp_inbox.messages[0].rcpt_tos


def test_service_mail_leaves_over_smtp_whatever_email_backend_django_has(queued, smtp_inbox, topics, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    receive("lokal@example.de")
    intake.drain()
    assert [[m["To"]] for m in smtp_inbox.mails] == [["lokal@example.de"]]
    assert django_mail.outbox == []


def test_the_substituted_bytes_parse_as_one_well_formed_message(smtp_inbox, topics):
    subscriber = Subscriber.objects.create(email="parse@example.de", confirm_nonce="n0nce")
    send_in_a_batch(subscriber, ["Finanznachrichten"])
    raw = smtp_inbox.messages[0].data
    message = BytesParser(policy=policy.SMTP).parsebytes(raw)
    assert not message.defects and all(not part.defects for part in message.walk())
    assert b"placeholder.invalid" not in raw and b"%%RB:" not in raw


def test_a_confirmation_request_is_dkim_signed_with_the_configured_key(smtp_inbox, topics, settings, tmp_path):
    import dkim as dkimpy

    from rundbrief.outbound import dkim

    key = dkim.generate_key("rsa")
    (tmp_path / "rsa.pem").write_bytes(dkim.private_pem(key))
    settings.DKIM_PRIVATE_KEY_FILE, settings.DKIM_SELECTOR = str(tmp_path / "rsa.pem"), "rb2026"
    record = dkim.dns_record(dkim.SigningKey("rsa-sha256", "musterhaus.example", "rb2026", key)).encode()
    subscriber = Subscriber.objects.create(email="signiert@example.de", confirm_nonce="n0nce")
    send_in_a_batch(subscriber, ["Finanznachrichten"])
    raw = smtp_inbox.messages[0].data
    records = {b"rb2026._domainkey.musterhaus.example.": record}
    assert dkimpy.DKIM(raw).verify(dnsfunc=lambda name, timeout=5: records.get(name))
    (message,) = smtp_inbox.mails
    assert "auto-submitted" in message["DKIM-Signature"] and message["Auto-Submitted"] == "auto-generated"


def test_purge_deletes_sign_ups_nobody_applied_within_the_confirmation_period(queued, topics, settings):
    receive("vergessen@example.de")
    receive("frisch@example.de")
    SignupIntake.objects.filter(email="vergessen@example.de").update(
        received_at=timezone.now() - timedelta(days=settings.RUNDBRIEF_UNCONFIRMED_DAYS + 1)
    )
    assert actions.purge_unconfirmed() == 1
    assert list(SignupIntake.objects.values_list("email", flat=True)) == ["frisch@example.de"]
    assert not ConsentEvent.objects.exists()


def test_a_worker_run_until_idle_sends_the_owed_confirmation_requests_before_it_exits(
    queued, smtp_inbox, topics, settings
):
    from django.core.management import call_command

    settings.DELIVERY_SMTP_URLS = [settings.SMTP_URL]
    receive("cron@example.de")
    call_command("deliver", "--until-idle", stdout=io.StringIO())
    assert [m["To"] for m in smtp_inbox.mails] == ["cron@example.de"]
    assert not SignupIntake.objects.exists()


ADDRESSES = ["a@example.de", "b@example.de", "c@example.de", "d@example.de"]
SLUGS = ["produktneuheiten", "finanznachrichten", "sonderangebote"]


@pytest.mark.django_db(transaction=False)  # each example runs twice inside savepoints of the test's transaction
@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    requests=st.lists(
        st.tuples(st.sampled_from(ADDRESSES), st.lists(st.sampled_from(SLUGS), unique=True)), min_size=1, max_size=8
    ),
    confirmed=st.sets(st.sampled_from(ADDRESSES)),
    bounced=st.sets(st.sampled_from(ADDRESSES)),
)
def test_sign_ups_applied_in_batches_end_as_they_end_applied_one_at_a_time(
    queued, smtp_inbox, topics, requests, confirmed, bounced
):
    """The bulk path for new addresses must change nothing of the rules: the same subscribers, topics,
    ledger events and mails as the one-at-a-time action, for repeats, confirmed and bounced addresses."""
    from django.db import transaction

    from rundbrief.audience.models import Subscription, Suppression

    text = ConsentText.current("de")
    outcomes = []
    for way in ("batches", "one at a time"):
        savepoint = transaction.savepoint()
        try:
            smtp_inbox.clear()
            for address in confirmed:
                subscriber = Subscriber.objects.create(email=address, status=Subscriber.Status.CONFIRMED)
                Subscription.objects.create(subscriber=subscriber, topic=topics["finanznachrichten"])
            for address in bounced:
                actions.suppress_address(address, reason=Suppression.Reason.BOUNCED, source="test")
            for address, slugs in requests:
                request = actions.prepare_subscription_request(
                    address, consent_text=text, topics=slugs, source="test", ip="198.51.100.7"
                )
                if way == "batches":
                    actions.receive_subscription_request(request)
                else:
                    actions.submit_subscription_request(request)
                    intake.drain()
            intake.drain()
            outcomes.append(
                (
                    sorted(
                        (s.email, s.status, tuple(sorted(s.subscriptions.values_list("topic__slug", flat=True))))
                        for s in Subscriber.objects.all()
                    ),
                    sorted(ConsentEvent.objects.values_list("subject_hash", "kind", "topics")),
                    sorted((m["To"],) for m in smtp_inbox.mails),
                    SignupIntake.objects.count(),
                    ledger.verify_chain().intact,
                )
            )
        finally:
            transaction.savepoint_rollback(savepoint)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][3] == 0 and outcomes[0][4]
