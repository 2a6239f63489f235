"""The SMTP client: persistent connections with reconnects, RFC 2920 pipelining, and a reply classification.

Each sender thread of the delivery engine owns one `SmtpConnection` to one
transport (transport.py); the service-mail thread holds one for a batch.
Anything that sends — this client, or a fake in a test — is a `Connection`.
"""

import re
import smtplib
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from rundbrief.outbound.transport import Transport

TIMEOUT = 60


@dataclass(frozen=True)
class Reply:
    kind: str  # "sent", "temporary", "permanent"
    code: int
    text: str

    def __str__(self):
        return f"{self.code} {self.text}".strip()


def classify(code: int, text: str) -> Reply:
    if 200 <= code < 300:
        return Reply("sent", code, text)
    if 500 <= code < 600:
        return Reply("permanent", code, text)
    return Reply("temporary", code, text)  # 4xx, and anything unexpected, is worth another try


def stuffed(data: bytes) -> bytes:
    """The message as DATA sends it: dots at line starts doubled, CRLF.CRLF appended (RFC 5321 §4.5.2).

    The `in` test is a plain byte search; the regular expression runs only for the rare message with a
    line that starts with a dot."""
    if data.startswith(b".") or b"\n." in data:
        data = _LEADING_DOT.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


_LEADING_DOT = re.compile(rb"(?m)^\.")


# An addr-spec of atext, dots and one "@": smtplib.quoteaddr gives "<addr>" for it, after parsing it
# with the email package's address parser, twice per message (tests/test_fast_hashes.py).
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
    r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)


def angle_addr(address: str) -> str:
    """smtplib.quoteaddr(address), without the parser for the plain addresses that are all we send to."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


def _text(message) -> str:
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return " ".join(str(message).split())[:400]


class Limit(Protocol):
    """A sending rate a connection must keep; the caller owns the counting (the delivery engine's limits)."""

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for a token; False when `stop` was set first (then nothing may be sent)."""


class Connection(Protocol):
    """What the delivery engine and service mail send through."""

    transport: Transport
    limits: Sequence[Limit]  # taken once per message before it is sent, in order

    def send(
        self,
        envelope_from: str,
        recipient: str,
        data: bytes,
        before_transaction: Callable[[], Reply | None] | None = None,
    ) -> Reply: ...

    def close(self) -> None: ...


class SmtpConnection:
    """One persistent connection; reconnects on demand and after messages_per_connection."""

    def __init__(self, transport: Transport, local_hostname=None, limits: Sequence[Limit] = ()):
        self.transport = transport
        self.limits = limits
        self.local_hostname = local_hostname
        self.smtp = None
        self.sent_on_connection = 0

    def _connect(self):
        t = self.transport
        if t.use_ssl:
            smtp = smtplib.SMTP_SSL(
                t.host,
                t.port,
                local_hostname=self.local_hostname,
                timeout=TIMEOUT,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(t.host, t.port, local_hostname=self.local_hostname, timeout=TIMEOUT)
        smtp.ehlo()
        if t.use_tls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if t.user:
            smtp.login(t.user, t.password)
        self.smtp = smtp
        self.sent_on_connection = 0

    def close(self):
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None

    def send(self, envelope_from: str, recipient: str, data: bytes, before_transaction=None) -> Reply:
        """One SMTP transaction. A dropped connection is reopened and the message tried once more.

        `before_transaction` is called right before MAIL FROM and may return a Reply
        to cancel the transaction (the consent check at send time).
        """
        for attempt in (1, 2):
            try:
                if self.smtp is None or self.sent_on_connection >= self.transport.messages_per_connection:
                    self.close()
                    self._connect()
                if before_transaction is not None:
                    veto = before_transaction()
                    if veto is not None:
                        return veto
                return self._transaction(envelope_from, recipient, data)
            except smtplib.SMTPResponseException as exc:
                # A reply outside a transaction step (greeting 421/554, AUTH failure): drop the connection.
                self.close()
                return classify(exc.smtp_code, _text(exc.smtp_error))
            except (smtplib.SMTPServerDisconnected, OSError, smtplib.SMTPException) as exc:
                self.close()
                if attempt == 2:
                    return Reply("temporary", 0, f"connection failed: {_text(exc) or type(exc).__name__}")
        raise AssertionError("unreachable")

    def _transaction(self, envelope_from, recipient, data):
        smtp = self.smtp
        options = []
        if not (envelope_from.isascii() and recipient.isascii()):
            options.append("SMTPUTF8")  # RFC 6531
        if smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if smtp.has_extn("pipelining") and "SMTPUTF8" not in options:
            return self._pipelined(smtp, envelope_from, recipient, options, data)
        code, message = smtp.mail(envelope_from, options)
        if code != 250:
            self._reset()
            return classify(code, _text(message))
        code, message = smtp.rcpt(recipient)
        if code not in (250, 251):
            self._reset()
            return classify(code, _text(message))
        code, message = smtp.data(data)
        self.sent_on_connection += 1
        return classify(code, _text(message))

    def _pipelined(self, smtp, envelope_from, recipient, options, data):
        """MAIL, RCPT and DATA in one write, then the body: two round trips instead of four (RFC 2920 §3.1).
        (Addresses that need SMTPUTF8 take the step-by-step path, where smtplib negotiates the encoding.)

        On a local relay the round trips, not the bytes, bound a connection's rate; each reply also
        waits for this process's GIL. The replies are read in order and the first refusal decides.
        """
        params = "".join(f" {option}" for option in options)
        mail_from, rcpt_to = angle_addr(envelope_from), angle_addr(recipient)
        smtp.send(f"MAIL FROM:{mail_from}{params}\r\nRCPT TO:{rcpt_to}\r\nDATA\r\n")
        replies = [smtp.getreply() for _ in range(3)]
        (mail_code, mail_text), (rcpt_code, rcpt_text), (data_code, _data_text) = replies
        refused = None
        if mail_code != 250:
            refused = classify(mail_code, _text(mail_text))
        elif rcpt_code not in (250, 251):
            refused = classify(rcpt_code, _text(rcpt_text))
        elif data_code != 354:
            refused = classify(data_code, _text(_data_text))
        if refused is not None:
            if data_code == 354:
                # A server that opened DATA although MAIL or RCPT failed gets an empty message,
                # which it must refuse for lack of recipients (RFC 2920 §3.1).
                smtp.send(b".\r\n")
                smtp.getreply()
            self._reset()
            return refused
        smtp.send(stuffed(data))
        code, message = smtp.getreply()
        self.sent_on_connection += 1
        return classify(code, _text(message))

    def _reset(self):
        try:
            self.smtp.rset()
        except (TimeoutError, smtplib.SMTPException, OSError):
            self.close()
