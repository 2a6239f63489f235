"""The delivery worker as `rundbrief deliver` and `rundbrief serve` run it: the engine wired to the
database store, the SMTP messenger, and the hand-offs that belong to apps above delivery.

- SMTP 5xx rejections go to bounce handling (the reason decides: suppress, count or alert; docs/bounces.md);
- once a day, when idle, housekeeping: unconfirmed sign-ups past their deadline are purged and
  retention applied (storage limitation, GDPR Art. 5(1)(e); docs/operations.md, "Retention").

Here, in ops, because ops sits on top and may import every app; the engine itself knows only its
protocols (delivery/protocols.py).
"""

import logging

from django.conf import settings

from rundbrief.audience.actions import purge_unconfirmed
from rundbrief.audience.anchor import current_anchor, write_anchor
from rundbrief.bounces.actions import record_smtp_rejection
from rundbrief.campaigns.digests import issue_due_digests
from rundbrief.db.bulk import checkpoint_sqlite_wal
from rundbrief.delivery.engine import Options, Worker
from rundbrief.delivery.messenger import SmtpMessenger
from rundbrief.delivery.store import DjangoRecipientStore
from rundbrief.delivery.welcome import send_welcome_mails
from rundbrief.ops.retention import apply_retention
from rundbrief.webhooks.actions import purge_old_messages
from rundbrief.webhooks.sender import deliver_webhooks

log = logging.getLogger("rundbrief.ops")


def hand_over_rejections(failures: list[tuple[int, str]]):
    """Hand synchronous 5xx rejections (delivery id, reply) to bounce handling, after they are recorded."""
    for delivery_id, reply in failures:
        record_smtp_rejection(delivery_id, reply)


def anchor_ledger():
    """Append the ledger's head to RUNDBRIEF_LEDGER_ANCHOR_FILE, or log it (the journal keeps it)."""
    path = settings.RUNDBRIEF_LEDGER_ANCHOR_FILE
    head = write_anchor(path) if path else current_anchor()
    log.info("consent ledger anchor count=%s head_id=%s head_hash=%s", head.count, head.head_id, head.head_hash)


def daily_housekeeping():
    """The chores a worker runs once a day when idle."""
    purge_unconfirmed()
    apply_retention()  # storage limitation, GDPR Art. 5(1)(e)
    purge_old_messages()  # the webhooks' delivery log, likewise (webhooks/actions.py)
    checkpoint_sqlite_wal()  # an erasure whose pages a long reader kept in the write-ahead log
    anchor_ledger()  # the consent ledger's head, outside the database


# Each is called every few seconds by every worker (delivery/engine.py CHORES_SECONDS) and must be
# safe to run in several workers at once.
CHORES = [
    send_welcome_mails,  # welcome mails owed to readers who confirmed (delivery/welcome.py)
    issue_due_digests,  # recurring digests whose time has come (campaigns/digests.py)
    deliver_webhooks,  # signed events owed to webhook endpoints (webhooks/sender.py)
]


def periodic_chores():
    """The work other apps hand to the delivery worker, in order."""
    for chore in CHORES:
        chore()


def build_worker(worker_id: str, options: Options, *, store=None, domain_buckets=None, progress=None) -> Worker:
    """A worker with `options.concurrency` SMTP connections over DELIVERY_SMTP_URLS (and, for tests
    that break the database on purpose, a store of their own)."""
    return Worker(
        store or DjangoRecipientStore(worker_id, options.lease_seconds),
        SmtpMessenger.from_settings(options.concurrency),
        options,
        domain_buckets=domain_buckets,
        progress=progress,
        on_permanent_failures=hand_over_rejections,
        housekeeping=daily_housekeeping,
        chores=periodic_chores,
    )
