"""The delivery engine: one worker process's pipeline.

    claim ─► consent check ─► build (substitute + DKIM) ─► send ─► record
      ▲         (guard re-checks every 0.25 s        (N sender threads,      │
      │          until each SMTP transaction starts)  pooled connections)     │
      └──────────────────────── leases renewed ◄──────────────────────────────┘

Invariants, each with a test in tests/test_delivery_*.py:
- nobody is mailed without consent at send time: the guard re-reads consent and
  suppression for every row in flight at least every DELIVERY_CONSENT_RECHECK_SECONDS,
  and a sender starts an SMTP transaction only on a verdict younger than
  MAX_VERDICT_AGE (0.75 s) — so a withdrawal committed more than 1 s earlier is
  always seen;
- nobody is mailed twice by two workers: rows are claimed atomically under a lease;
- nobody is lost on a crash: a row becomes final only after its SMTP outcome is
  recorded; a dead worker's rows return when its lease runs out. Outcomes are
  flushed at least every `flush_every` messages, so at most that many (plus the
  transactions in flight) can be sent twice, with the same Message-ID.

The engine talks to the database only through a RecipientStore (store.py) and to
SMTP only through connection objects (smtp.py), so both can be replaced in tests.
"""

import datetime as dt
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from rundbrief.delivery.guard import ConsentGuard
from rundbrief.delivery.models import Delivery
from rundbrief.delivery.smtp import Reply
from rundbrief.delivery.store import Claimed, Outcome

log = logging.getLogger("rundbrief.delivery")
State = Delivery.State
HOUSEKEEPING_SECONDS = 24 * 3600
DB_RETRY_FIRST, DB_RETRY_MAX = 0.5, 10.0
FLUSH_SECONDS = 0.5
UNTIL_IDLE_POLL_SECONDS = 0.1  # outcomes wait at most this long before they are recorded


@dataclass
class Options:
    batch_size: int = 200
    concurrency: int = 4
    lease_seconds: int = 30
    max_attempts: int = 5
    retry_base_seconds: float = 60.0
    duplicate_bound: int = 20
    pause_after_failures: int = 50
    recheck_seconds: float = 0.25
    until_idle: bool = False
    idle_poll_seconds: float = 1.0


@dataclass
class Job:
    claimed: Claimed
    built: object  # compose.Built
    domain: str
    started: float = 0.0


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    by_state: dict = field(default_factory=dict)

    def count(self, outcome: Outcome):
        self.by_state[outcome.state] = self.by_state.get(outcome.state, 0) + 1
        if outcome.state == State.SENT:
            self.sent += 1
        elif outcome.state == State.FAILED:
            self.failed += 1
        elif outcome.state == "retry":
            self.retried += 1
        elif outcome.state.startswith("skipped"):
            self.skipped += 1


class Worker:
    def __init__(
        self,
        store,
        connections,
        compile_campaign,
        options: Options,
        *,
        domain_buckets=None,
        progress=None,
        clock=time.monotonic,
    ):
        self.store = store
        self.connections = connections  # one SmtpConnection-like object per sender thread
        self.compile_campaign = compile_campaign
        self.options = options
        self.domain_buckets = domain_buckets
        self.progress = progress
        self.clock = clock
        self.stop = threading.Event()  # stop claiming, finish what is in flight
        self.halt = threading.Event()  # senders: take no new transaction
        # One job queue per from-domain group: a transport with `from_domain` only sends mail from that
        # domain (e.g. a relay with that domain's DKIM/SPF); the others ("") take everything else.
        self.groups: dict[str, list] = {}
        for conn in connections:
            domain = getattr(getattr(conn, "transport", None), "from_domain", "") or ""
            self.groups.setdefault(domain, []).append(conn)
        # Rows in flight at most (built and queued, or in a transaction). Claiming in batches of about
        # half of it keeps claim transactions few while the senders always have work.
        self.capacity = max(options.batch_size, 3 * len(connections))
        self.queues = {domain: queue.Queue() for domain in self.groups}
        self.results = queue.Queue()
        self.stats = Stats()
        self._compiled = {}
        self._topics = {}
        self._failures = {}  # campaign id → consecutive failed transactions
        self._claimed: dict[int, Claimed] = {}
        self._first_pending = 0.0
        self._housekept_at = -HOUSEKEEPING_SECONDS  # the first idle moment runs it
        self._cooldown = {}
        self._cooldown_lock = threading.Lock()
        self.flush_every = max(1, options.duplicate_bound - len(connections))
        self.guard = ConsentGuard(store, self.topics_for, options.recheck_seconds, self.halt, options.lease_seconds)

    # -- helpers -----------------------------------------------------------
    def topics_for(self, campaign_id):
        if campaign_id not in self._topics:
            self._topics[campaign_id] = self.store.campaign_topics(campaign_id)
        return self._topics[campaign_id]

    def compiled(self, campaign_id):
        if campaign_id not in self._compiled:
            self._compiled[campaign_id] = self.compile_campaign(self.store.campaign(campaign_id))
        return self._compiled[campaign_id]

    def retry_at(self, attempts):
        delay = self.options.retry_base_seconds * (2 ** max(0, attempts - 1))
        return timezone.now() + dt.timedelta(seconds=min(delay, 6 * 3600))

    # -- senders -----------------------------------------------------------
    def _sender(self, conn, jobs):
        try:
            while True:
                job = jobs.get()
                if job is None:
                    return
                self.results.put(self._send_one(conn, job))
        finally:
            conn.close()
            connection.close()

    def _send_one(self, conn, job) -> Outcome:
        claimed = job.claimed
        if self.halt.is_set():
            return Outcome(claimed.delivery_id, "release", attempted=False)
        with self._cooldown_lock:
            until = self._cooldown.get(job.domain)
        if until and until > time.time():
            # Per-domain back-off after a 4xx: do not knock again before the domain's cool-down ends.
            return Outcome(
                claimed.delivery_id, "retry", retry_at=dt.datetime.fromtimestamp(until, dt.UTC), attempted=False
            )
        # The recipient domain's bucket first, the transport's shortest window last: a token of a
        # one-second window is then spent right away, not after a wait for another limit.
        limits = [self.domain_buckets.for_domain(job.domain)] if self.domain_buckets is not None else []
        limits += getattr(getattr(conn, "transport", None), "limits", [])
        for limit in limits:
            if not limit.acquire(self.halt):
                # Halted while waiting: without a token this message must not go (global rate limits).
                return Outcome(claimed.delivery_id, "release", attempted=False)

        def consent_at_transaction_start():
            verdict = self.guard.verdict(claimed.delivery_id, claimed.campaign_id, self.halt)
            if verdict == "ok":
                job.started = time.time()
                return None
            return Reply(verdict, 0, "")

        reply = conn.send(job.built.envelope_from, job.built.recipient, job.built.data, consent_at_transaction_start)
        return self._outcome(claimed, job, reply)

    def _outcome(self, claimed, job, reply) -> Outcome:
        if reply.kind == "sent":
            return Outcome(claimed.delivery_id, State.SENT, str(reply))
        if reply.kind in (State.SKIPPED_WITHDRAWN, State.SKIPPED_SUPPRESSED):
            return Outcome(claimed.delivery_id, reply.kind, attempted=False)
        if reply.kind in ("halted", "unknown", "lost"):
            return Outcome(claimed.delivery_id, "release", attempted=False)
        if reply.kind == "temporary" and 400 <= reply.code < 500:
            with self._cooldown_lock:
                self._cooldown[job.domain] = time.time() + min(self.options.retry_base_seconds, 300)
        if reply.kind == "permanent":
            # 5xx: final. Bounce handling (bounces/actions.py, docs/bounces.md) decides what it means for the address.
            return Outcome(claimed.delivery_id, State.FAILED, str(reply))
        return Outcome(claimed.delivery_id, "retry", str(reply))

    # -- main loop ---------------------------------------------------------
    def run(self):
        senders = [
            (threading.Thread(target=self._sender, args=(c, self.queues[d]), name=f"sender-{d}-{i}", daemon=True), d)
            for d, conns in self.groups.items()
            for i, c in enumerate(conns)
        ]
        self.guard.start()
        for thread, _domain in senders:
            thread.start()
        self._pending: list[Outcome] = []
        self._outstanding = 0
        backoff = DB_RETRY_FIRST
        try:
            while True:
                try:
                    if not self._step():
                        break
                    backoff = DB_RETRY_FIRST
                except (OperationalError, InterfaceError) as exc:
                    # The database restarted or is unreachable: keep the outcomes in hand, reconnect, go on.
                    log.warning("database unavailable (%s); retrying in %.1f s", exc, backoff)
                    connection.close()
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, DB_RETRY_MAX)
        finally:
            self._shutdown(senders)
        return self.stats

    def _step(self) -> bool:
        """One turn of the loop; False when the worker should stop."""
        pending = self._pending
        self._outstanding -= self._collect(pending, block=False)
        if len(pending) >= self.flush_every or (pending and self.clock() - self._first_pending > FLUSH_SECONDS):
            self._flush(pending)
        if self.stop.is_set():
            return False
        if self._outstanding > self.capacity // 2:
            self._outstanding -= self._collect(pending, block=True)
            return True
        self.store.start_due_campaigns()
        claimed_at = time.monotonic()
        batch = self.store.claim(min(self.options.batch_size, self.capacity - self._outstanding))
        if batch:
            self._outstanding += self._dispatch(batch, pending, claimed_at)
            return True
        if self._outstanding:
            self._outstanding -= self._collect(pending, block=True)
            return True
        self._flush(pending)
        self.store.finish_done_campaigns()
        self._daily_housekeeping()
        if self.options.until_idle and not self.store.has_open_work():
            return False
        self._idle_wait()
        return True

    def _shutdown(self, senders):
        # Jobs not yet started are released (back to queued); transactions in flight finish.
        self.halt.set()
        for _thread, domain in senders:
            self.queues[domain].put(None)
        for thread, _domain in senders:
            while thread.is_alive():
                thread.join(0.2)
                self._collect(self._pending, block=False)
        self._collect(self._pending, block=False)
        for attempt in range(5):  # record what was sent; a copy is resent only if the database stays away
            try:
                self._flush(self._pending)
                self.store.finish_done_campaigns()
                break
            except (OperationalError, InterfaceError) as exc:
                log.warning("cannot record outcomes yet (%s)", exc)
                connection.close()
                time.sleep(DB_RETRY_FIRST * 2**attempt)
        self.guard.join(5)

    def _daily_housekeeping(self):
        """Once a day, when idle: expired sign-up requests and retention (docs/operations.md, "Retention")."""
        if self.clock() - self._housekept_at < HOUSEKEEPING_SECONDS:
            return
        self._housekept_at = self.clock()
        try:
            self.store.housekeeping()
        except Exception:  # never let a chore stop delivery; it is tried again tomorrow
            log.exception("daily housekeeping failed")

    def _idle_wait(self):
        wake = self.store.next_wakeup()
        wait = self.options.idle_poll_seconds
        if self.options.until_idle:
            # Only rows other workers still hold keep this one alive; look again soon, so the run
            # ends within a moment of the campaign's last message, not a poll interval later.
            wait = min(wait, UNTIL_IDLE_POLL_SECONDS)
        if wake is not None:
            wait = min(wait, max(0.05, (wake - timezone.now()).total_seconds()))
        self.stop.wait(wait)

    def _dispatch(self, batch, pending, claimed_at):
        topics = {c: self.topics_for(c) for c in {i.campaign_id for i in batch}}
        began = time.monotonic()
        verdicts = self.store.consent_check(batch, topics)
        dispatched = 0
        ready = []
        for item in batch:
            verdict = verdicts.get(item.delivery_id)
            if verdict != "ok":
                if not pending:
                    self._first_pending = self.clock()
                pending.append(Outcome(item.delivery_id, verdict, attempted=False))
                self.stats.count(pending[-1])
                continue
            ready.append(item)
        self.guard.track(ready, verdicts, began, claimed_at + self.options.lease_seconds - self.guard.lease_margin)
        self._claimed.update((item.delivery_id, item) for item in batch)
        for index, item in enumerate(ready):
            try:
                built = self.compiled(item.campaign_id).build(item)
            except Exception:
                # Not handed to a sender: stop renewing their leases, so they run out and are claimed again.
                self.guard.forget([i.delivery_id for i in ready[index:]])
                raise
            domain = item.email.rpartition("@")[2].lower()
            self._queue_for(item.campaign_id).put(Job(item, built, domain))
            dispatched += 1
        return dispatched

    def _queue_for(self, campaign_id):
        from_domain = self.compiled(campaign_id).from_domain
        if from_domain in self.queues:
            return self.queues[from_domain]
        return self.queues.get("") or next(iter(self.queues.values()))

    def _collect(self, pending, block) -> int:
        collected = 0
        while True:
            try:
                outcome = self.results.get(timeout=0.2) if block and not collected else self.results.get_nowait()
            except queue.Empty:
                return collected
            collected += 1
            if not pending:
                self._first_pending = self.clock()
            pending.append(outcome)
            self.stats.count(outcome)
            self._watch_failures(outcome)
            if self.progress is not None:
                self.progress(outcome)

    def _watch_failures(self, outcome):
        """Pause a campaign after N consecutive failed transactions, and say why."""
        claimed = self._claimed.get(outcome.delivery_id)
        if claimed is None or not outcome.attempted:
            return
        campaign_id = claimed.campaign_id
        if outcome.state == State.SENT:
            self._failures.pop(campaign_id, None)
            return
        if outcome.state not in (State.FAILED, "retry"):
            return
        count = self._failures.get(campaign_id, 0) + 1
        self._failures[campaign_id] = count
        if count >= self.options.pause_after_failures:
            reason = f"paused after {count} consecutive failed deliveries; last reply: {outcome.reply}"
            self.store.pause(campaign_id, reason)
            log.warning("campaign %s %s", campaign_id, reason, extra={"campaign_id": campaign_id})
            self._failures.pop(campaign_id, None)

    def _flush(self, pending):
        """Record outcomes; a retry past the attempt limit becomes a failure."""
        if not pending:
            return
        outcomes = []
        for outcome in pending:
            if outcome.state == "retry":
                attempts = self._attempts_after(outcome)
                if attempts >= self.options.max_attempts:
                    outcome = Outcome(outcome.delivery_id, State.FAILED, outcome.reply)
                elif outcome.retry_at is None:
                    retry_at = self.retry_at(attempts)
                    outcome = Outcome(outcome.delivery_id, "retry", outcome.reply, retry_at, outcome.attempted)
            outcomes.append(outcome)
        self.store.record(outcomes)
        self.guard.forget([o.delivery_id for o in outcomes])
        for outcome in outcomes:
            self._claimed.pop(outcome.delivery_id, None)
        pending.clear()
        rejected = [(o.delivery_id, o.reply) for o in outcomes if o.state == State.FAILED and o.reply.startswith("5")]
        if rejected:
            try:
                self.store.permanent_failures(rejected)
            except Exception:  # bounce handling must never stop delivery; the reply stays on the row
                log.exception(
                    "bounce handling of %d rejection(s) failed",
                    len(rejected),
                    extra={"delivery_ids": [d for d, _reply in rejected]},
                )

    def _attempts_after(self, outcome):
        claimed = self._claimed.get(outcome.delivery_id)
        return (claimed.attempts if claimed else 0) + (1 if outcome.attempted else 0)
