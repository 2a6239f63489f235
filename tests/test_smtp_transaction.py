"""One SMTP transaction against a real server, with and without PIPELINING (RFC 2920).

The pipelined path writes MAIL, RCPT and DATA at once and reads three replies; whatever the
server refuses, the reply of the first refused step decides, the connection stays usable,
and the body arrives byte for byte (dot-stuffing undone by the server).
"""

import pytest

from rundbrief.outbound.smtp import SmtpConnection, stuffed
from rundbrief.outbound.transport import parse_transport
from tests.support.smtp import Faults, SmtpServer

BODY = (
    b"From: newsletter@musterhaus.example\r\nTo: leser@example.org\r\nSubject: Punkte\r\n\r\n"
    b"Erste Zeile\r\n.\r\n..zwei Punkte\r\n.ein Punkt am Anfang\r\nmitten . im Satz\r\n"
)


def connection(server):
    return SmtpConnection(parse_transport(server.url), local_hostname="test.localhost")


@pytest.mark.parametrize("pipelining", [True, False])
def test_body_with_leading_dots_arrives_unchanged(pipelining):
    with SmtpServer(pipelining=pipelining) as server:
        conn = connection(server)
        reply = conn.send("bounces@musterhaus.example", "leser@example.org", BODY)
        conn.close()
    assert reply.kind == "sent" and reply.code == 250
    [received] = server.messages
    assert received.data == BODY
    assert received.mail_from == "bounces@musterhaus.example" and received.rcpt_tos == ["leser@example.org"]


@pytest.mark.parametrize("pipelining", [True, False])
@pytest.mark.parametrize(
    "faults, expected",
    [
        (Faults(on_mail=lambda n: "451 4.3.0 try later" if n == 1 else None), ("temporary", 451)),
        (Faults(on_mail=lambda n: "553 5.7.1 sender refused" if n == 1 else None), ("permanent", 553)),
        (Faults(on_rcpt=lambda n: "450 4.2.1 mailbox busy" if n == 1 else None), ("temporary", 450)),
        (Faults(on_rcpt=lambda n: "550 5.1.1 user unknown" if n == 1 else None), ("permanent", 550)),
        (Faults(on_data=lambda n: "552 5.3.4 message too big" if n == 1 else None), ("permanent", 552)),
    ],
)
def test_the_first_refused_step_decides_and_the_connection_stays_usable(pipelining, faults, expected):
    with SmtpServer(faults, pipelining=pipelining) as server:
        conn = connection(server)
        refused = conn.send("bounces@musterhaus.example", "eins@example.org", BODY)
        accepted = conn.send("bounces@musterhaus.example", "zwei@example.org", BODY)
        conn.close()
    assert (refused.kind, refused.code) == expected
    assert accepted.kind == "sent"
    assert [m.rcpt_tos for m in server.messages] == [["zwei@example.org"]]


@pytest.mark.parametrize("pipelining, writes", [(True, 2), (False, 4)])
def test_pipelining_halves_the_round_trips(pipelining, writes):
    with SmtpServer(pipelining=pipelining) as server:
        conn = connection(server)
        conn.send("bounces@musterhaus.example", "eins@example.org", BODY)  # connects (EHLO) first
        sent = []
        original = conn.smtp.send
        conn.smtp.send = lambda data: (sent.append(data), original(data))[1]
        reply = conn.send("bounces@musterhaus.example", "zwei@example.org", BODY)
        writes_in_transaction = len(sent)
        conn.close()  # QUIT is one more write, not part of the transaction
    assert reply.kind == "sent"
    # A write is followed by waiting for the reply, so writes are round trips.
    assert writes_in_transaction == writes


def test_a_connection_dropped_after_the_pipelined_commands_is_reopened_and_the_message_resent():
    with SmtpServer(Faults(on_data=lambda n: "DROP" if n == 1 else None)) as server:
        conn = connection(server)
        reply = conn.send("bounces@musterhaus.example", "leser@example.org", BODY)
        conn.close()
    assert reply.kind == "sent"
    assert [m.rcpt_tos for m in server.messages] == [["leser@example.org"]]


def test_stuffing_matches_the_rule_of_rfc_5321():
    assert stuffed(b"a\r\n") == b"a\r\n.\r\n"
    assert stuffed(b"a") == b"a\r\n.\r\n"
    assert stuffed(b".a\r\nb\r\n.\r\n") == b"..a\r\nb\r\n..\r\n.\r\n"
    assert stuffed(b"kein. Punkt\r\n") == b"kein. Punkt\r\n.\r\n"
