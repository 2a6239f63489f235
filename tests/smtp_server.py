"""A real SMTP server for tests (aiosmtpd), recording what it accepts and injecting faults on request."""

import asyncio
import threading
import time
from dataclasses import dataclass

from aiosmtpd.controller import Controller

from tests.conftest import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list
    data: bytes
    at: float  # time.time() when the transaction began (MAIL FROM)


@dataclass
class Faults:
    """Replies to inject. Each callable gets the 1-based transaction number and returns a reply or None."""

    on_mail: object = None
    on_rcpt: object = None
    on_data: object = None  # may return "DROP" to close the connection mid-DATA
    stall_seconds: float = 0.0


class RecordingHandler:
    def __init__(self, faults=None, pipelining=True):
        self.faults = faults or Faults()
        self.pipelining = pipelining
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.transactions = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # aiosmtpd reads commands one after another from the stream, so pipelined clients work;
        # it just does not say so. Advertise it like Postfix does (RFC 2920), unless a test wants the old way.
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
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, session.rb_started)
            )
        return f"250 2.0.0 queued as rb{session.rb_number}"


class SmtpServer:
    def __init__(self, faults=None, *, pipelining=True):
        self.handler = RecordingHandler(faults, pipelining)
        self.port = free_port()
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10, data_size_limit=50 * 1024 * 1024
        )

    @property
    def messages(self):
        with self.handler.lock:
            return list(self.handler.messages)

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()
