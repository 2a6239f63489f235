"""The inbound SMTP/LMTP receiver for the bounce domain (aiosmtpd), run by `rundbrief bounces receive`.

It accepts exactly two kinds of recipient, both carrying a MAC (outbound/verp.py):

* `bounces+<delivery>-<mac>@…`, the VERP return path: the message is a bounce,
  complaint or auto-reply about that delivery → actions.record_message;
* `unsubscribe+<delivery>-<mac>@…`, the List-Unsubscribe mailto address
  (RFC 2369 §3.2; RFC 8058 §3.2 keeps mailto beside one-click) → withdraw consent.

Anything else — unknown local parts, forged or altered MACs — is refused at RCPT
with 550 5.1.1, so the receiver cannot be used as a relay and forged bounces
never reach the database. The database work runs in a worker thread (Django's
ORM is synchronous); a failure there answers 451, so the sending MTA retries.
"""

import asyncio
import logging

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from django.conf import settings
from django.db import close_old_connections

from rundbrief.bounces import actions
from rundbrief.bounces.models import BounceEvent
from rundbrief.outbound import verp

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # bounces quote the original; a newsletter is far below this


def recipient_kind(address: str) -> str | None:
    if verp.parse_return_path(address) is not None:
        return "bounce"
    if verp.parse_return_path(address, prefix="unsubscribe") is not None:
        return "unsubscribe"
    return None


class BounceHandler:
    def __init__(self, source=BounceEvent.Source.INBOUND_SMTP):
        self.source = source

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if recipient_kind(address) is None:
            return "550 5.1.1 No such mailbox here"  # RFC 3463: bad destination mailbox address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        loop = asyncio.get_running_loop()
        replies = []
        for address in envelope.rcpt_tos:
            try:
                await loop.run_in_executor(None, self.process, address, envelope.original_content or envelope.content)
                replies.append("250 2.0.0 OK")
            except Exception:  # noqa: BLE001 — the database may be away; the sender keeps the message and retries
                log.exception("recording mail to %s failed", address)
                replies.append("451 4.3.0 Temporary failure, try again later")
        if self.source == BounceEvent.Source.INBOUND_LMTP:
            return "\r\n".join(replies)  # RFC 2033 §4.2: one reply per accepted recipient
        return replies[0] if all(r == replies[0] for r in replies) else "451 4.3.0 Partial failure, try again later"

    def process(self, address, raw):
        close_old_connections()
        try:
            if recipient_kind(address) == "unsubscribe":
                actions.unsubscribe_by_mail(address, source=self.source)
            else:
                actions.record_message(raw, source=self.source, envelope_recipient=address)
        finally:
            close_old_connections()


class ReceiverController(Controller):
    """aiosmtpd's Controller, speaking LMTP (RFC 2033) instead of SMTP when asked."""

    def __init__(self, host, port, *, lmtp=False):
        source = BounceEvent.Source.INBOUND_LMTP if lmtp else BounceEvent.Source.INBOUND_SMTP
        self.lmtp = lmtp
        # server_hostname: the greeting names the bounce domain instead of a (slow) getfqdn() lookup.
        super().__init__(
            BounceHandler(source),
            hostname=host,
            port=port,
            ready_timeout=10,
            data_size_limit=MAX_MESSAGE_BYTES,
            ident="Rundbrief bounce receiver",
            server_hostname=settings.BOUNCE_DOMAIN or "localhost",
        )

    def factory(self):
        server_class = LMTP if self.lmtp else SMTP
        return server_class(self.handler, **self.SMTP_kwargs)


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return (host.strip("[]") or "127.0.0.1"), int(port)
