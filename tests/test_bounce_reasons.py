"""The reason for a failure, from what servers really write; and the policy each reason carries."""

import pytest

from rundbrief.bounces import reasons
from rundbrief.bounces.judge import judge
from rundbrief.bounces.parse import reply_failure

# (server's text, status, command, reason): one case per wording in bounces/phrases.py worth pinning.
CASES = [
    (
        "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
        "5.1.1",
        "RCPT",
        "userunknown",
    ),
    ("550-5.1.1 The email account that you tried to reach does not exist.", "5.1.1", "RCPT", "userunknown"),
    (
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        "5.1.10",
        "RCPT",
        "userunknown",
    ),
    ("Sorry, no mailbox here by that name. (#5.1.1)", "5.1.1", "", "userunknown"),
    ("User anna (anna@example.org) not listed in Domino Directory", None, "", "userunknown"),
    ("550 Requested action not taken: mailbox unavailable", "5.0.0", "RCPT", "userunknown"),
    ("550 unknown user", "5.0.0", "", "filtered"),  # no code, no command: could be a content filter
    ("550 5.1.1 user unknown (in reply to end of DATA command)", "5.1.1", "", "filtered"),
    ("Host or domain name not found. Name service error for name=example.org type=MX", "5.1.2", "", "hostunknown"),
    ("Name service error for domain example.org: Host not found, try again", "4.0.0", "", "networkerror"),
    ("550 5.1.6 Recipient has moved", "5.1.6", "RCPT", "hasmoved"),
    ("556 5.1.10 Recipient address has null MX", "5.1.10", "RCPT", "notaccept"),
    ("550 5.2.1 The email account that you tried to reach is disabled.", "5.2.1", "RCPT", "suspend"),
    (
        "554 30 Sorry, your message to x@yahoo.com cannot be delivered. This mailbox is disabled (554.30)",
        "5.0.0",
        "RCPT",
        "suspend",
    ),
    ("552 5.2.2 Mailbox full", "5.2.2", "RCPT", "mailboxfull"),
    ("Das Postfach des Empfängers ist voll.", None, "", "mailboxfull"),
    ("This person's account is exceeding their quota.", None, "", "mailboxfull"),
    ("552 5.2.3 Message size exceeds fixed maximum message size (10485760)", "5.2.3", "DATA", "exceedlimit"),
    ("552 5.3.4 Message size exceeds fixed limit", "5.3.4", "DATA", "mesgtoobig"),
    (
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        "5.7.1",
        "RCPT",
        "blocked",
    ),
    ("550 5.0.0 Your IP 192.0.2.1 is listed in our blocklist", "5.0.0", "RCPT", "blocked"),
    ("421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume", "4.7.0", "", "blocked"),
    (
        "550 5.7.1 Our system has detected that this message is likely unsolicited mail.",
        "5.7.1",
        "DATA",
        "spamdetected",
    ),
    ("554 5.7.1 Message rejected: virus found in attachment", "5.7.1", "DATA", "virusdetected"),
    (
        "550 5.7.509 Access denied, sending domain example.org does not pass DMARC verification",
        "5.7.509",
        "",
        "blocked",
    ),
    (
        "550 5.7.515 Access denied, sending domain does not meet the required authentication level",
        "5.7.515",
        "",
        "securityerror",
    ),
    ("554 5.7.1 <a@example.org>: Relay access denied", "5.7.1", "RCPT", "norelaying"),
    ("553 5.1.8 <news@example.com>: Sender address rejected: Domain not found", "5.1.8", "MAIL", "rejected"),
    ("retry timeout exceeded", None, "", "expired"),
    ("Delivery failed 20 attempts: a@example.org", None, "", "expired"),
    ("connect to mx.example.org[192.0.2.9]:25: Connection timed out", "4.4.1", "", "expired"),
    (
        "Host or domain name not found. Name service error for name=example.org type=A: Host not found, try again",
        "4.4.3",
        "",
        "networkerror",
    ),
    ("temporary failure. Command output: avpcheck: unable to connect to avp daemon", "4.0.0", "", "mailererror"),
    ("421 4.7.0 Too many concurrent SMTP connections; please try again later", "4.7.0", "", "toomanyconn"),
    ("550 Ip frequency limited [Blocked IP 192.0.2.22]", "5.0.0", "RCPT", "toomanyconn"),
    ("553 5.1.7 No such domain example.com (after MAIL FROM)", "5.1.7", "MAIL", "rejected"),
    ("554 Service denied", "5.0.0", "CONNECT", "blocked"),
    ("500 5.5.1 Syntax error, command unrecognized", "5.5.1", "", "syntaxerror"),
    ("550 Requested action not taken", "5.0.0", "DATA", "onhold"),
    ("", None, "", "undefined"),
]


@pytest.mark.parametrize("text, status, command, reason", CASES)
def test_a_servers_words_status_and_command_give_the_reason(text, status, command, reason):
    assert judge(text, status, "failed", command) == reason


def test_a_delay_without_words_is_expired_whatever_the_last_attempts_code():
    assert judge("", "4.4.1", "delayed") == "expired"


def test_every_reason_has_a_policy_and_only_address_level_reasons_suppress():
    assert set(reasons.POLICY) == set(reasons.Reason)
    suppress = {r for r, p in reasons.POLICY.items() if p is reasons.Policy.SUPPRESS}
    assert suppress == {"userunknown", "hostunknown", "hasmoved", "notaccept"}
    assert {r for r in reasons.Reason if reasons.public_kind(r) == "hard"} == suppress
    for sender_reason in (
        "blocked",
        "rejected",
        "spamdetected",
        "virusdetected",
        "contenterror",
        "policyviolation",
        "securityerror",
        "norelaying",
    ):
        assert reasons.kind(sender_reason) == "sender_policy" and reasons.public_kind(sender_reason) == "soft"
    assert reasons.kind("feedback") == "complaint" and reasons.kind("vacation") is None
    assert reasons.kind("no-such-word") == "soft"  # unknown words never suppress


def test_a_synchronous_rejection_is_judged_as_answered_to_rcpt_unless_told_otherwise():
    assert reply_failure("550 unknown user").reason == "userunknown"
    assert reply_failure("550 unknown user", command="DATA").reason == "filtered"
