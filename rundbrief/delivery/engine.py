"""The delivery engine: one worker process's pipeline.

    claim ─► check ─► build ─► send ─► record
      ▲      consent    substitute   N sender threads,    outcomes in bulk, │
      │      (guard re-checks every  one connection each  only for rows     │
      │       0.25 s until each SMTP                      still held        │
      │       transaction starts)                                           │
      └──────────────────────── leases renewed ◄────────────────────────────┘

`Worker.run` turns the loop (`_turn`): record what the senders finished, claim a batch, check
its consent, build each message and queue it for a sender thread, which sends it.

Invariants, each with a test in tests/test_delivery_*.py (docs/delivery.md):
- nobody is mailed without consent at send time: the guard re-reads consent and suppression for
  every row in flight at least every DELIVERY_CONSENT_RECHECK_SECONDS, and a sender starts an SMTP
  transaction only on a verdict younger than MAX_VERDICT_AGE (0.75 s) — so a withdrawal committed
  more than 1 s earlier is always seen;
- nobody is mailed twice by two workers: rows are claimed atomically under a lease;
- nobody is lost on a crash: a row becomes final only after its SMTP outcome is recorded; a dead
  worker's rows return when its lease runs out. A sender starts a transaction only with one of
  `duplicate_bound` permits, given back when the outcome is committed, so a kill resends at most
  that many, with the same Message-ID.

The engine depends only on two protocols (protocols.py): a RecipientStore (the ledger; store.py)
and a Messenger (building and sending; messenger.py). It knows nothing of SQL or SMTP, so both can
be replaced by fakes (tests/test_delivery_engine_fakes.py). What happens around it — bounce
handling of SMTP rejections, daily housekeeping — comes in as callables from the command that runs
it (ops/worker.py).
"""

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rundbrief.db.queue import Retry
from rundbrief.delivery.guard import ConsentGuard
from rundbrief.delivery.outcomes import Stats, outcome_of
from rundbrief.delivery.protocols import (
    SKIPPED,
    Claimed,
    Disposition,
    Messenger,
    Outcome,
    RecipientStore,
    ReplyKind,
    Verdict,
)
from rundbrief.delivery.safeguards import DomainCooldown, UnrecordedPermits

log = logging.getLogger("rundbrief.delivery")
HOUSEKEEPING_SECONDS = 24 * 3600
CHORES_SECONDS = 10.0  # how often the periodic chores run (due digests, welcome mails), busy or idle
DB_RETRY_FIRST, DB_RETRY_MAX = 0.5, 10.0
FLUSH_SECONDS = 0.5
RECORD_WHILE_BUILDING = 8  # messages built between looks at the senders' outcomes
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
    message: object  # what Messenger.build made
    domain: str  # the recipient's
    started: float = 0.0


def now_utc():
    return dt.datetime.now(dt.UTC)


class Worker:
    def __init__(
        self,
        store: RecipientStore,
        messenger: Messenger,
        options: Options,
        *,
        domain_buckets=None,
        progress: Callable[[Outcome], None] | None = None,
        on_permanent_failures: Callable[[list[tuple[int, str]]], None] | None = None,
        housekeeping: Callable[[], None] | None = None,
        chores: Callable[[], None] | None = None,
        clock=time.monotonic,
    ):
        self.store = store
        self.messenger = messenger
        self.options = options
        self.domain_buckets = domain_buckets  # per recipient domain, within this worker (ratelimit.DomainBuckets)
        self.progress = progress
        self.on_permanent_failures = on_permanent_failures  # (delivery id, 5xx reply) pairs, after recording
        self.housekeeping = housekeeping  # daily chores, run when idle
        self.chores = chores  # every CHORES_SECONDS, also while sending: work that other apps hand in
        self.clock = clock
        self.stop = threading.Event()  # stop claiming, finish what is in flight
        self.halt = threading.Event()  # senders: take no new transaction
        # One job queue per from-domain group: a lane with a from-domain only sends mail from that
        # domain (e.g. a relay with that domain's DKIM/SPF); the others ("") take everything else.
        self.lanes = list(messenger.lanes())
        self.groups: dict[str, list[int]] = {}
        for lane, domain in enumerate(self.lanes):
            self.groups.setdefault(domain or "", []).append(lane)
        # Rows in flight at most (built and queued, or in a transaction). Claiming in batches of about
        # half of it keeps claim transactions few while the senders always have work.
        self.capacity = max(options.batch_size, 3 * len(self.lanes))
        self.queues = {domain: queue.Queue() for domain in self.groups}
        self.results = queue.Queue()
        self.stats = Stats()
        self._topics = {}
        self._failures = {}  # campaign id → consecutive failed transactions
        self._claimed: dict[int, Claimed] = {}
        self._first_pending = 0.0
        self._housekept_at = -HOUSEKEEPING_SECONDS  # the first idle moment runs it
        self._chores_at = -CHORES_SECONDS  # the first turn runs them
        self._cooldown = DomainCooldown()
        self.flush_every = max(1, options.duplicate_bound - len(self.lanes))
        self._permits = UnrecordedPermits(options.duplicate_bound)  # the duplicate bound (safeguards.py)
        self.guard = ConsentGuard(store, self.topics_for, options.recheck_seconds, self.halt, options.lease_seconds)
        self.retry = Retry(options.max_attempts, options.retry_base_seconds)  # the shared back-off (db/queue.py)

    def topics_for(self, campaign_id):
        if campaign_id not in self._topics:
            self._topics[campaign_id] = self.store.campaign_topics(campaign_id)
        return self._topics[campaign_id]

    # -- the loop ------------------------------------------------------------
    def run(self):
        senders = [
            (
                threading.Thread(
                    target=self._sender, args=(lane, self.queues[d]), name=f"sender-{d}-{lane}", daemon=True
                ),
                d,
            )
            for d, lanes in self.groups.items()
            for lane in lanes
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
                    if not self._turn():
                        break
                    backoff = DB_RETRY_FIRST
                except self.store.unavailable as exc:
                    # The database restarted or is unreachable: keep the outcomes in hand, reconnect, go on.
                    log.warning("database unavailable (%s); retrying in %.1f s", exc, backoff)
                    self.store.close()
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, DB_RETRY_MAX)
        finally:
            self._shutdown(senders)
        return self.stats

    def _turn(self) -> bool:
        """One turn of the loop; False when the worker should stop."""
        pending = self._pending
        self._outstanding -= self._collect(pending, block=False)
        if len(pending) >= self.flush_every or (pending and self.clock() - self._first_pending > FLUSH_SECONDS):
            self.record(pending)
        if self.stop.is_set():
            return False
        self._periodic_chores()
        if self._outstanding > self.capacity // 2:
            self._outstanding -= self._collect(pending, block=True)
            return True
        claimed_at = time.monotonic()
        batch = self.claim(min(self.options.batch_size, self.capacity - self._outstanding))
        if batch:
            ready = self.check(batch, pending, claimed_at)
            built = self.build(ready)  # not `+=`: build() collects outcomes and lowers the count meanwhile
            self._outstanding += built
            return True
        if self._outstanding:
            self._outstanding -= self._collect(pending, block=True)
            return True
        self.record(pending)
        self.store.finish_done_campaigns()
        self._daily_housekeeping()
        if self.options.until_idle and not self.store.has_open_work():
            return False
        self._idle_wait()
        return True

    # -- the stages ------------------------------------------------------------
    def claim(self, limit) -> list[Claimed]:
        """Start campaigns that are due; take up to `limit` due rows under a lease."""
        self.store.start_due_campaigns()
        return self.store.claim(limit)

    def check(self, batch, pending, claimed_at) -> list[Claimed]:
        """Consent and suppression for the batch; the rows that may be sent go on, with the guard watching."""
        topics = {c: self.topics_for(c) for c in {i.campaign_id for i in batch}}
        began = time.monotonic()
        verdicts = self.store.consent_check(batch, topics)
        ready = []
        for item in batch:
            verdict = verdicts.get(item.delivery_id)
            if verdict != Verdict.OK:
                self._add(
                    pending, Outcome(item.delivery_id, SKIPPED.get(verdict, Disposition.RELEASE), attempted=False)
                )
                continue
            ready.append(item)
        self.guard.track(ready, verdicts, began, claimed_at + self.options.lease_seconds - self.guard.lease_margin)
        self._claimed.update((item.delivery_id, item) for item in batch)
        return ready

    def build(self, ready) -> int:
        """Each row's message (compiled once per campaign, substituted per recipient), queued for a sender."""
        for index, item in enumerate(ready):
            try:
                message = self.messenger.build(item)
            except Exception:
                # Not handed to a sender: stop renewing their leases, so they run out and are claimed again.
                self.guard.forget([i.delivery_id for i in ready[index:]])
                raise
            domain = item.email.rpartition("@")[2].lower()
            self._queue_for(item.campaign_id).put(Job(item, message, domain))
            if index % RECORD_WHILE_BUILDING == RECORD_WHILE_BUILDING - 1:
                self._record_while_building()
        return len(ready)

    def _record_while_building(self):
        """Building a batch (DKIM signing above all) takes a while; meanwhile the senders finish messages
        whose permits come back only once recorded. Recording here keeps them sending."""
        self._outstanding -= self._collect(self._pending, block=False)
        if len(self._pending) >= self.flush_every:
            try:
                self.record(self._pending)
            except self.store.unavailable as exc:  # kept in hand; the loop records it once the database is back
                log.warning("cannot record outcomes while building (%s)", exc)

    def send(self, lane, job) -> Outcome:
        """One message on one lane: wait for the rate limits, then for a fresh consent verdict, then SMTP."""
        claimed = job.claimed
        if self.halt.is_set():
            return Outcome(claimed.delivery_id, Disposition.RELEASE, attempted=False)
        until = self._cooldown.until(job.domain)
        if until:
            # Per-domain back-off after a 4xx: do not knock again before the domain's cool-down ends.
            retry_at = dt.datetime.fromtimestamp(until, dt.UTC)
            return Outcome(claimed.delivery_id, Disposition.RETRY, retry_at=retry_at, attempted=False)
        # The recipient domain's bucket first, the transport's shortest window last: a token of a
        # one-second window is then spent right away, not after a wait for another limit.
        limits = [self.domain_buckets.for_domain(job.domain)] if self.domain_buckets is not None else []
        limits += self.messenger.limits(lane)
        for limit in limits:
            if not limit.acquire(self.halt):
                # Halted while waiting: without a token this message must not go (global rate limits).
                return Outcome(claimed.delivery_id, Disposition.RELEASE, attempted=False)

        if not self._permits.take(claimed.delivery_id, self.halt):
            return Outcome(claimed.delivery_id, Disposition.RELEASE, attempted=False)

        def consent_at_transaction_start():
            verdict = self.guard.verdict(claimed.delivery_id, claimed.campaign_id, self.halt)
            if verdict == Verdict.OK:
                job.started = time.time()
                return None
            return verdict

        reply = self.messenger.send(lane, job.message, consent_at_transaction_start)
        if not isinstance(reply, Verdict) and reply.kind == ReplyKind.TEMPORARY and 400 <= reply.code < 500:
            self._cooldown.start(job.domain, min(self.options.retry_base_seconds, 300))
        return outcome_of(claimed.delivery_id, reply)

    def record(self, pending):
        """Record outcomes; a retry past the attempt limit becomes a failure; 5xx rejections go to the hook."""
        if not pending:
            return
        outcomes = []
        for outcome in pending:
            if outcome.state == Disposition.RETRY:
                # base × 2^(attempts−1), at most 6 h; None once the attempts are used up
                retry_at = self.retry.next_attempt_at(self._attempts_after(outcome), now_utc())
                if retry_at is None:
                    outcome = Outcome(outcome.delivery_id, Disposition.FAILED, outcome.reply)
                elif outcome.retry_at is None:
                    outcome = Outcome(
                        outcome.delivery_id, Disposition.RETRY, outcome.reply, retry_at, outcome.attempted
                    )
            outcomes.append(outcome)
        self.store.record(outcomes)
        self._permits.give_back([o.delivery_id for o in outcomes])
        self.guard.forget([o.delivery_id for o in outcomes])
        for outcome in outcomes:
            self._claimed.pop(outcome.delivery_id, None)
        pending.clear()
        rejected = [
            (o.delivery_id, o.reply) for o in outcomes if o.state == Disposition.FAILED and o.reply.startswith("5")
        ]
        if rejected and self.on_permanent_failures is not None:
            try:
                self.on_permanent_failures(rejected)
            except Exception:  # bounce handling must never stop delivery; the reply stays on the row
                log.exception(
                    "bounce handling of %d rejection(s) failed",
                    len(rejected),
                    extra={"delivery_ids": [d for d, _reply in rejected]},
                )

    # -- senders, outcomes, idling ---------------------------------------------
    def _sender(self, lane, jobs):
        try:
            while True:
                job = jobs.get()
                if job is None:
                    return
                self.results.put(self.send(lane, job))
        finally:
            self.messenger.close(lane)
            self.store.close()  # this thread's database connection (the rate limits' windows)

    def _queue_for(self, campaign_id):
        from_domain = self.messenger.from_domain(campaign_id)
        if from_domain in self.queues:
            return self.queues[from_domain]
        return self.queues.get("") or next(iter(self.queues.values()))

    def _add(self, pending, outcome):
        if not pending:
            self._first_pending = self.clock()
        pending.append(outcome)
        self.stats.count(outcome)

    def _collect(self, pending, block) -> int:
        """Take the senders' outcomes into `pending` (recorded in bulk later); the number taken."""
        collected = 0
        while True:
            try:
                outcome = self.results.get(timeout=0.2) if block and not collected else self.results.get_nowait()
            except queue.Empty:
                return collected
            collected += 1
            self._add(pending, outcome)
            self._watch_failures(outcome)
            if self.progress is not None:
                self.progress(outcome)

    def _watch_failures(self, outcome):
        """Pause a campaign after N consecutive failed transactions, and say why."""
        claimed = self._claimed.get(outcome.delivery_id)
        if claimed is None or not outcome.attempted:
            return
        campaign_id = claimed.campaign_id
        if outcome.state == Disposition.SENT:
            self._failures.pop(campaign_id, None)
            return
        if outcome.state not in (Disposition.FAILED, Disposition.RETRY):
            return
        count = self._failures.get(campaign_id, 0) + 1
        self._failures[campaign_id] = count
        if count >= self.options.pause_after_failures:
            reason = f"paused after {count} consecutive failed deliveries; last reply: {outcome.reply}"
            self.store.pause(campaign_id, reason)
            log.warning("campaign %s %s", campaign_id, reason, extra={"campaign_id": campaign_id})
            self._failures.pop(campaign_id, None)

    def _attempts_after(self, outcome):
        claimed = self._claimed.get(outcome.delivery_id)
        return (claimed.attempts if claimed else 0) + (1 if outcome.attempted else 0)

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
                self.record(self._pending)
                self.store.finish_done_campaigns()
                break
            except self.store.unavailable as exc:
                log.warning("cannot record outcomes yet (%s)", exc)
                self.store.close()
                time.sleep(DB_RETRY_FIRST * 2**attempt)
        self.guard.join(5)

    def _daily_housekeeping(self):
        """Once a day, when idle: the chores the command handed in (docs/operations.md, "Retention")."""
        if self.housekeeping is None or self.clock() - self._housekept_at < HOUSEKEEPING_SECONDS:
            return
        self._housekept_at = self.clock()
        try:
            self.housekeeping()
        except Exception:  # never let a chore stop delivery; it is tried again tomorrow
            log.exception("daily housekeeping failed")

    def _periodic_chores(self):
        """Every CHORES_SECONDS: what the command handed in (ops/worker.py). Each chore is safe to run in
        several workers at once (leased rows, unique keys), so no worker has to be the one that runs it."""
        if self.chores is None or self.clock() - self._chores_at < CHORES_SECONDS:
            return
        self._chores_at = self.clock()
        try:
            self.chores()
        except self.store.unavailable:
            raise  # the loop's database back-off handles it
        except Exception:  # a broken chore must not stop delivery; it runs again next time
            log.exception("periodic chore failed")

    def _idle_wait(self):
        wake = self.store.next_wakeup()
        wait = self.options.idle_poll_seconds
        if self.options.until_idle:
            # Only rows other workers still hold keep this one alive; look again soon, so the run
            # ends within a moment of the campaign's last message, not a poll interval later.
            wait = min(wait, UNTIL_IDLE_POLL_SECONDS)
        if wake is not None:
            wait = min(wait, max(0.05, (wake - now_utc()).total_seconds()))
        self.stop.wait(wait)
