"""Classifying inbound mail: DSNs, text bounces of many MTAs, ARF complaints, auto-replies and garbage."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rundbrief.bounces.parse import classify, reply_failure
from rundbrief.outbound import verp

CORPUS = Path(__file__).resolve().parent / "bounce_corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
FIELDS = ["is_bounce", "recipient", "kind", "status", "reason"]


def run_classify(*paths):
    out = io.StringIO()
    call_command("bounces", "classify", "--json", *map(str, paths), stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_corpus_has_at_least_25_messages_each_with_an_expectation():
    files = sorted(p.name for p in CORPUS.iterdir() if p.name != "expected.json")
    assert len(files) >= 25
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_message_is_classified_as_expected(name):
    expected = EXPECTED[name]
    result = classify((CORPUS / name).read_bytes())
    assert {f: result.as_json(name)[f] for f in FIELDS} == {f: expected[f] for f in FIELDS}
    assert result.kind == expected["policy_kind"]


def test_classify_command_prints_one_json_object_per_file_in_order_and_exits_0(tmp_path):
    names = sorted(EXPECTED)
    missing = tmp_path / "gone.eml"
    lines = run_classify(*(CORPUS / n for n in names), missing)
    assert [line["file"] for line in lines] == names + ["gone.eml"]
    for line in lines[:-1]:
        assert set(line) == {"file", "recipients", "diagnosis", *FIELDS}
        assert {f: line[f] for f in FIELDS} == {f: EXPECTED[line["file"]][f] for f in FIELDS}
    assert lines[-1] == {
        "file": "gone.eml",
        "is_bounce": False,
        "recipient": None,
        "kind": None,
        "status": None,
        "reason": None,
        "recipients": [],
        "diagnosis": "cannot read file",
    }


def test_a_sender_policy_rejection_is_soft_in_the_json_contract_and_sender_policy_inside():
    result = classify((CORPUS / "outlook_5_7_515_sender_policy.eml").read_bytes())
    assert result.kind == "sender_policy" and result.as_json("x")["kind"] == "soft"
    assert result.status == "5.7.515" and result.reason == "securityerror"


def test_a_dsn_whose_status_is_vague_takes_the_precise_code_from_the_diagnostic():
    result = classify((CORPUS / "gmail_account_disabled.eml").read_bytes())
    assert result.status == "5.2.1" and result.reason == "suspend" and result.kind == "soft"


def test_codes_in_the_quoted_original_do_not_count():
    result = classify((CORPUS / "qmail_no_mailbox.eml").read_bytes())
    assert result.status == "5.1.1"


def test_all_failed_recipients_of_a_multi_recipient_dsn_are_listed():
    result = classify((CORPUS / "postfix_two_recipients.eml").read_bytes())
    assert set(result.recipients) == {"dora.kessler@example.com", "egon.fischer@example.org"}


@pytest.mark.parametrize(
    "reply, reason, kind, status",
    [
        ("550 5.1.1 <anna@example.org>: Recipient address rejected: User unknown", "userunknown", "hard", "5.1.1"),
        ("552 5.2.2 Mailbox full", "mailboxfull", "soft", "5.2.2"),
        (
            "550 5.7.515 Access denied, sending domain does not meet the required authentication level",
            "securityerror",
            "sender_policy",
            "5.7.515",
        ),
        (
            "550-5.7.26 Unauthenticated email is not accepted due to domain's DMARC policy",
            "blocked",
            "sender_policy",
            "5.7.26",
        ),
        (
            "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
            "blocked",
            "sender_policy",
            "5.7.1",
        ),
        ("550 5.7.1 Recipient address rejected: user does not accept mail", "notaccept", "hard", "5.7.1"),
        ("554 delivery error: This user doesn't have an account", "userunknown", "hard", "5.0.0"),
        ("550 Requested action not taken", "onhold", "soft", "5.0.0"),
        ("452 4.2.2 Over quota", "mailboxfull", "soft", "4.2.2"),
    ],
)
def test_synchronous_smtp_replies_get_a_reason_from_the_words_then_the_code(reply, reason, kind, status):
    failure = reply_failure(reply)
    assert (failure.reason, failure.kind, failure.status) == (reason, kind, status)


def _dsn_to(envelope_to, message_id=""):
    return (
        f"From: MAILER-DAEMON@mx.example.net\nTo: {envelope_to}\nSubject: Undelivered Mail Returned to Sender\n"
        "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        "Final-Recipient: rfc822; leser@example.org\nAction: failed\nStatus: 5.1.1\n\n"
        f"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: {message_id}\n\n--b--\n"
    ).encode()


def test_our_verp_address_and_message_id_name_the_delivery_and_forged_ones_are_ignored():
    genuine = verp.return_path(4711, "musterhaus.example")
    result = classify(_dsn_to(genuine, verp.message_id(12, 4711, "musterhaus.example")))
    assert (result.delivery_id, result.campaign_id) == (4711, 12)
    forged = genuine.replace("bounces+4711-", "bounces+4712-")
    result = classify(_dsn_to(forged, "<rb.12.4712.aaaaaaaaaa@musterhaus.example>"))
    assert result.is_bounce and result.delivery_id is None and result.campaign_id is None
    assert classify(_dsn_to("x@example.org"), envelope_recipient=genuine).delivery_id == 4711


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_classify_never_raises_on_arbitrary_bytes(data):
    result = classify(data)
    assert isinstance(result.is_bounce, bool)


MUTATIONS = sorted(p.name for p in CORPUS.iterdir() if p.suffix == ".eml" and p.stat().st_size > 0)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MUTATIONS), st.integers(0, 10_000), st.integers(0, 400), st.binary(max_size=40))
def test_classify_never_raises_on_cut_or_spliced_real_shapes(name, at, cut, junk):
    raw = (CORPUS / name).read_bytes()
    at = at % (len(raw) + 1)
    mutated = raw[:at] + junk + raw[at + cut :]
    result = classify(mutated)
    assert result.kind in (None, "hard", "soft", "complaint", "sender_policy")
