"""The IMAP mailbox poller, run by `rundbrief bounces fetch --imap imaps://user:pass@host/INBOX`.

Idempotent, so cron or a worker may run it as often as it likes:

* it asks only for messages without \\Seen (RFC 9051 §6.4.4 SEARCH UNSEEN) and
  fetches them with BODY.PEEK[] (RFC 9051 §6.4.5), which does not set \\Seen;
* after a message is recorded it is flagged \\Seen — or, with --move-to, copied to
  that folder and expunged from this one (COPY + \\Deleted + EXPUNGE works on every
  server; MOVE, RFC 6851, is not universal);
* a message whose recording fails (database away) stays unseen and is tried next time.

The mailbox is usually a catch-all for the bounce domain, so the VERP address is in
Delivered-To / To; bounces without one of our ids are logged as `unverified` only.
"""

import imaplib
import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from rundbrief.bounces import actions
from rundbrief.bounces.models import BounceEvent

log = logging.getLogger(__name__)
UID_IN_FETCH = re.compile(rb"UID (\d+)")


@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    user: str
    password: str
    mailbox: str
    tls: bool


def parse_imap_url(url: str) -> ImapTarget:
    """imaps://user:pass@host[:993]/INBOX (implicit TLS, RFC 8314) or imap://… (plain, for tests and localhost)."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise ValueError(f"{url!r}: expected imaps://user:password@host/MAILBOX")
    tls = parts.scheme == "imaps"
    return ImapTarget(
        host=parts.hostname,
        port=parts.port or (993 if tls else 143),
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
        tls=tls,
    )


@dataclass
class FetchReport:
    seen: int = 0
    recorded: int = 0
    failed: int = 0


def _quote(mailbox):
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fetch_mailbox(target: ImapTarget, *, move_to: str | None = None, timeout=60) -> FetchReport:
    connection_class = imaplib.IMAP4_SSL if target.tls else imaplib.IMAP4
    report = FetchReport()
    with connection_class(target.host, target.port, timeout=timeout) as imap:
        imap.login(target.user, target.password)
        typ, _ = imap.select(_quote(target.mailbox))
        if typ != "OK":
            raise imaplib.IMAP4.error(f"cannot select {target.mailbox}")
        typ, data = imap.uid("SEARCH", None, "UNSEEN")
        uids = data[0].split() if typ == "OK" and data and data[0] else []
        moved = False
        for uid in uids:
            report.seen += 1
            raw = _fetch(imap, uid)
            if raw is None:
                report.failed += 1
                continue
            try:
                event = actions.record_message(raw, source=BounceEvent.Source.IMAP)
            except Exception:  # noqa: BLE001 — leave it unseen; the next run tries again
                log.exception("recording IMAP message %s failed", uid)
                report.failed += 1
                continue
            report.recorded += event is not None
            if move_to:
                imap.uid("COPY", uid, _quote(move_to))
                imap.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
                moved = True
            else:
                imap.uid("STORE", uid, "+FLAGS", "(\\Seen)")
        if moved:
            imap.expunge()
        imap.logout()
    return report


def _fetch(imap, uid):
    typ, data = imap.uid("FETCH", uid, "(BODY.PEEK[])")
    if typ != "OK" or not data:
        return None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            return item[1]
    return None
