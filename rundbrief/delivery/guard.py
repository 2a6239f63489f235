"""The consent guard: re-checks consent and lease for every row in flight, several times a second.

A sender asks `verdict()` right before MAIL FROM and gets an answer from a check
that began less than MAX_VERDICT_AGE ago — so a withdrawal committed more than
one second before a transaction began is always seen (engine.py, docs/delivery.md).
"""

import logging
import threading
import time

from rundbrief.db.loop import DatabaseLoop
from rundbrief.delivery.protocols import Claimed, Verdict

MAX_VERDICT_AGE = 0.75
SENDING = "sending"  # the campaign state in which its rows may be sent (RecipientStore.campaign_states)


class ConsentGuard(DatabaseLoop):
    """Re-reads consent for every row in flight, several times a second, on its own DB connection.

    "In flight" lasts from the dispatch of a row until its outcome is recorded, so the leases of
    rows sent but not yet recorded are renewed too.

    Each verdict carries the monotonic time at which the query that produced it
    began; a sender acts only on a verdict younger than MAX_VERDICT_AGE.

    A failed check (a database hiccup) leaves the verdicts to go stale, so senders wait; it is
    tried again every `interval`, at most a second apart while the database is unavailable.
    """

    log = logging.getLogger("rundbrief.delivery")
    failure_message = "consent check failed; sending waits until it succeeds"
    retry_max = 1.0

    def __init__(self, store, topics_for, interval, stop, lease_seconds=30):
        super().__init__(stop, name="consent-guard")
        self.store, self.topics_for, self.interval = store, topics_for, interval
        self.retry_first = interval
        self.renew_every = lease_seconds / 3
        # A transaction starts only while at least half the lease is left: a live worker's
        # rows cannot be claimed by another worker in the middle of sending them.
        self.lease_margin = lease_seconds / 2
        self.renewed_at = time.monotonic()
        self.lock = threading.Condition()
        self.in_flight: dict[int, Claimed] = {}
        self.verdicts: dict[int, tuple[Verdict, float, float]] = {}
        self.campaign_states: dict[int, str] = {}

    def track(self, items, verdicts, began, lease_ok_until):
        """Start watching rows, with the verdicts of the check (begun at `began`) that admitted them."""
        with self.lock:
            for item in items:
                self.in_flight[item.delivery_id] = item
                self.verdicts[item.delivery_id] = (verdicts[item.delivery_id], began, lease_ok_until)
                self.campaign_states.setdefault(item.campaign_id, SENDING)

    def forget(self, delivery_ids):
        """Stop watching rows: their outcome is recorded, or they were never handed to a sender."""
        with self.lock:
            for delivery_id in delivery_ids:
                self.in_flight.pop(delivery_id, None)
                self.verdicts.pop(delivery_id, None)

    def check_now(self):
        began = time.monotonic()
        with self.lock:
            items = list(self.in_flight.values())
        if began - self.renewed_at > self.renew_every:
            # Renewed here, not in the main loop: this thread never waits on SMTP or signing.
            self.store.renew_leases([i.delivery_id for i in items])
            self.renewed_at = began
        if not items:
            return
        topics = {c: self.topics_for(c) for c in {i.campaign_id for i in items}}
        verdicts = self.store.consent_check(items, topics)
        lease_left = self.store.lease_left([i.delivery_id for i in items])
        states = self.store.campaign_states(topics.keys())
        with self.lock:
            for delivery_id, verdict in verdicts.items():
                if delivery_id not in self.in_flight:
                    continue
                if delivery_id not in lease_left:
                    verdict = Verdict.LOST  # our lease ran out and another worker took the row
                ok_until = began + lease_left.get(delivery_id, 0.0) - self.lease_margin
                self.verdicts[delivery_id] = (verdict, began, ok_until)
            self.campaign_states.update(states)
            self.lock.notify_all()

    # -- the loop (DatabaseLoop): its database connection is the store's --------------------------
    def step(self):
        self.check_now()
        return self.interval

    def failure_wait(self):
        return self.interval

    def recover(self):
        self.store.recover()

    def close_connection(self):
        self.store.close()

    def verdict(self, delivery_id, campaign_id, halt):
        """The row's verdict, once it comes from a check begun less than MAX_VERDICT_AGE ago
        and the row's lease is safely longer than a transaction (else another worker may take it)."""
        with self.lock:
            while True:
                verdict, began, lease_ok_until = self.verdicts.get(delivery_id, (Verdict.UNKNOWN, 0.0, 0.0))
                if self.campaign_states.get(campaign_id, SENDING) != SENDING:
                    return Verdict.HALTED
                now = time.monotonic()
                if verdict in (Verdict.UNKNOWN, Verdict.LOST) or (
                    now - began <= MAX_VERDICT_AGE and now < lease_ok_until
                ):
                    return verdict
                if halt.is_set():
                    return Verdict.HALTED
                self.lock.wait(0.1)
