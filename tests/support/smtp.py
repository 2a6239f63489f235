"""The one SMTP server of the tests (aiosmtpd): records what it accepts and injects faults on request.

Campaign tests read the raw transactions (`messages`: envelope, bytes, start time); sign-up tests
read the parsed mails and their links (`mails`, `links`). The server is its own aiosmtpd handler,
so a test may replace one hook (`server.handle_DATA = …`) before the mail it concerns is sent.
"""

import asyncio
import email
import functools
import re
import threading
import time
from dataclasses import dataclass
from email import policy

from aiosmtpd.controller import Controller

from tests.support.ports import free_port

LINK = re.compile(r"https?://[^\s\"<>]+")


def path_of(url):
    return re.sub(r"^https?://[^/]+", "", url)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list
    data: bytes
    at: float  # time.time() when the transaction began (MAIL FROM)

    @functools.cached_property
    def mail(self):
        return email.message_from_bytes(self.data, policy=policy.default)


@dataclass
class Faults:
    """Replies to inject. Each callable gets the 1-based transaction number and returns a reply or None."""

    on_mail: object = None
    on_rcpt: object = None
    on_data: object = None  # may return "DROP" to close the connection mid-DATA
    stall_seconds: float = 0.0
    refuse_rcpt: object = None  # gets the recipient address; returns a reply or None


class SmtpServer:
    """`with SmtpServer() as server:` listens on a free port of 127.0.0.1 until the block ends.

    pipelining: advertise PIPELINING (RFC 2920) as Postfix does. aiosmtpd reads commands one after
    another from the stream, so pipelined clients work either way; it just does not say so.
    """

    def __init__(self, faults=None, *, pipelining=True):
        self.faults = faults or Faults()
        self.pipelining = pipelining
        self._messages: list[Received] = []
        self.lock = threading.Lock()
        self.transactions = 0
        self.port = free_port()
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, ready_timeout=10, data_size_limit=50 * 1024 * 1024
        )

    # -- what arrived ------------------------------------------------------
    @property
    def messages(self) -> list[Received]:
        """Every accepted transaction, in order: envelope, raw bytes, start time."""
        with self.lock:
            return list(self._messages)

    @property
    def mails(self):
        """The accepted messages, parsed (email.message.EmailMessage)."""
        return [received.mail for received in self.messages]

    def links(self, mail, part="plain"):
        return LINK.findall(mail.get_body(preferencelist=(part,)).get_content())

    def clear(self):
        with self.lock:
            self._messages.clear()

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    # -- aiosmtpd hooks ----------------------------------------------------
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            self.transactions += 1
            number = self.transactions
        session.rb_number = number
        session.rb_started = time.time()
        reply = self.faults.on_mail(number) if self.faults.on_mail else None
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.faults.on_rcpt(session.rb_number) if self.faults.on_rcpt else None
        reply = reply or (self.faults.refuse_rcpt(address) if self.faults.refuse_rcpt else None)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.faults.stall_seconds:
            await asyncio.sleep(self.faults.stall_seconds)
        reply = self.faults.on_data(session.rb_number) if self.faults.on_data else None
        if reply == "DROP":
            server.transport.close()
            return "421 closing"
        if reply:
            return reply
        with self.lock:
            self._messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, session.rb_started)
            )
        return f"250 2.0.0 queued as rb{session.rb_number}"
