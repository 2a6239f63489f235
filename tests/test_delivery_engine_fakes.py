"""The delivery engine against fakes of its two protocols: no database, no SMTP, a fraction of a second each.

The engine (rundbrief/delivery/engine.py) depends only on a RecipientStore and a Messenger
(rundbrief/delivery/protocols.py). FakeStore and FakeMessenger below are complete, in-memory
implementations of them; the real ones are tested in test_delivery_engine.py and the others.
"""

import datetime as dt
import threading
from dataclasses import dataclass

from rundbrief.delivery.engine import Options, Worker
from rundbrief.delivery.models import Delivery
from rundbrief.delivery.protocols import Claimed, Disposition, ReplyKind, Verdict


@dataclass
class Row:
    delivery_id: int
    campaign_id: int
    email: str
    consent: Verdict = Verdict.OK
    state: str = "queued"
    attempts: int = 0
    retry_at: dt.datetime | None = None
    reply: str = ""


class FakeStore:
    """A RecipientStore in memory: one sending campaign per id in `campaigns`, rows in `rows`."""

    unavailable = (ConnectionError,)

    def __init__(self, rows, campaigns=None):
        self.rows = {row.delivery_id: row for row in rows}
        self.campaigns = campaigns or {row.campaign_id: "sending" for row in rows}
        self.paused = {}
        self.lock = threading.Lock()

    def close(self):
        pass

    def recover(self):
        pass

    def start_due_campaigns(self):
        pass

    def finish_done_campaigns(self):
        with self.lock:
            for campaign_id, state in self.campaigns.items():
                rows = [r for r in self.rows.values() if r.campaign_id == campaign_id]
                if state == "sending" and all(r.state not in ("queued", "sending") for r in rows):
                    self.campaigns[campaign_id] = "finished"

    def _due(self, row, now):
        return (
            self.campaigns[row.campaign_id] == "sending"
            and row.state == "queued"
            and (row.retry_at is None or row.retry_at <= now)
        )

    def claim(self, limit):
        now = dt.datetime.now(dt.UTC)
        with self.lock:
            due = [row for row in self.rows.values() if self._due(row, now)][:limit]
            for row in due:
                row.state = "sending"
            return [
                Claimed(r.delivery_id, r.campaign_id, r.delivery_id, r.email, f"p{r.delivery_id}", r.attempts)
                for r in due
            ]

    def consent_check(self, claimed, topics_by_campaign):
        with self.lock:
            return {item.delivery_id: self.rows[item.delivery_id].consent for item in claimed}

    def renew_leases(self, delivery_ids):
        pass

    def lease_left(self, delivery_ids):
        with self.lock:
            return {i: 30.0 for i in delivery_ids if self.rows[i].state == "sending"}

    def record(self, outcomes):
        with self.lock:
            for outcome in outcomes:
                row = self.rows[outcome.delivery_id]
                requeue = outcome.state in (Disposition.RETRY, Disposition.RELEASE)
                row.state = "queued" if requeue else str(outcome.state)
                row.attempts += 1 if outcome.attempted else 0
                row.retry_at = outcome.retry_at if requeue else None
                row.reply = outcome.reply or row.reply

    def campaign_states(self, campaign_ids):
        with self.lock:
            return {c: self.campaigns[c] for c in campaign_ids}

    def campaign_topics(self, campaign_id):
        return [1]

    def pause(self, campaign_id, reason):
        with self.lock:
            self.campaigns[campaign_id] = "paused"
            self.paused[campaign_id] = reason

    def has_open_work(self):
        with self.lock:
            return any(
                self.campaigns[r.campaign_id] == "sending" and r.state in ("queued", "sending")
                for r in self.rows.values()
            )

    def next_wakeup(self):
        with self.lock:
            times = [r.retry_at for r in self.rows.values() if r.state == "queued" and r.retry_at]
            return min(times) if times else None


@dataclass(frozen=True)
class FakeReply:
    kind: str
    code: int
    text: str = ""

    def __str__(self):
        return f"{self.code} {self.text}".strip()


class FakeMessenger:
    """A Messenger that 'sends' by noting the recipient; `replies` scripts answers per address
    (a list is answered in turn, its last entry for ever after)."""

    def __init__(self, lanes=2, replies=None):
        self._lanes = [""] * lanes
        self.replies = replies or {}
        self.sent = []
        self.closed = set()
        self.lock = threading.Lock()

    def lanes(self):
        return self._lanes

    def limits(self, lane):
        return []

    def from_domain(self, campaign_id):
        return "musterhaus.example"

    def build(self, claimed):
        return ("message", claimed.email)

    def send(self, lane, message, before_transaction):
        veto = before_transaction()
        if veto is not None:
            return veto
        _kind, email = message
        with self.lock:
            script = self.replies.get(email, [FakeReply(ReplyKind.SENT, 250, "ok")])
            reply = script.pop(0) if len(script) > 1 else script[0]
            if reply.kind == ReplyKind.SENT:
                self.sent.append(email)
        return reply

    def close(self, lane):
        self.closed.add(lane)


def fast(**overrides):
    return Options(until_idle=True, retry_base_seconds=0.01, recheck_seconds=0.01, idle_poll_seconds=0.01, **overrides)


def rows(*emails, campaign_id=1):
    return [Row(i, campaign_id, email) for i, email in enumerate(emails, start=1)]


def test_the_engine_sends_each_consenting_recipient_once_and_skips_the_others_with_the_reason():
    store = FakeStore(rows("a@example.org", "b@example.org", "weg@example.org", "gesperrt@example.org"))
    store.rows[3].consent = Verdict.WITHDRAWN
    store.rows[4].consent = Verdict.SUPPRESSED
    messenger = FakeMessenger()
    stats = Worker(store, messenger, fast()).run()
    assert sorted(messenger.sent) == ["a@example.org", "b@example.org"]
    assert {r.email: r.state for r in store.rows.values()} == {
        "a@example.org": "sent",
        "b@example.org": "sent",
        "weg@example.org": "skipped_withdrawn",
        "gesperrt@example.org": "skipped_suppressed",
    }
    assert (stats.sent, stats.skipped, stats.failed) == (2, 2, 0)
    assert store.campaigns[1] == "finished" and messenger.closed == {0, 1}


def test_a_5xx_fails_at_once_and_goes_to_the_bounce_hook_a_4xx_is_retried_until_it_is_accepted():
    store = FakeStore(rows("gone@example.org", "busy@example.org", "fine@example.org"))
    messenger = FakeMessenger(
        replies={
            "gone@example.org": [FakeReply(ReplyKind.PERMANENT, 550, "5.1.1 user unknown")],
            "busy@example.org": [
                FakeReply(ReplyKind.TEMPORARY, 451, "4.7.1 try later"),
                FakeReply(ReplyKind.SENT, 250),
            ],
        }
    )
    handed_over = []
    Worker(store, messenger, fast(), on_permanent_failures=handed_over.extend).run()
    assert handed_over == [(1, "550 5.1.1 user unknown")]
    assert store.rows[1].state == "failed" and store.rows[1].attempts == 1
    assert store.rows[2].state == "sent" and store.rows[2].attempts == 2
    assert sorted(messenger.sent) == ["busy@example.org", "fine@example.org"]


def test_a_campaign_that_meets_only_failures_is_paused_with_the_last_reply_as_reason():
    store = FakeStore(rows(*(f"leser{i}@example.org" for i in range(10))))
    refused = [FakeReply(ReplyKind.PERMANENT, 554, "5.7.1 relay denied")]
    messenger = FakeMessenger(lanes=1, replies={f"leser{i}@example.org": list(refused) for i in range(10)})
    Worker(store, messenger, fast(pause_after_failures=3, batch_size=1)).run()
    assert store.campaigns[1] == "paused"
    assert store.paused[1] == "paused after 3 consecutive failed deliveries; last reply: 554 5.7.1 relay denied"
    assert messenger.sent == []


def test_housekeeping_runs_once_when_the_worker_is_idle():
    chores = []
    Worker(FakeStore(rows("a@example.org")), FakeMessenger(), fast(), housekeeping=lambda: chores.append(1)).run()
    assert chores == [1]


def test_periodic_chores_run_while_sending_and_a_failing_chore_does_not_stop_delivery():
    calls = []

    def chore():
        calls.append(1)
        raise RuntimeError("a broken chore")

    store = FakeStore(rows("a@example.org", "b@example.org"))
    messenger = FakeMessenger()
    Worker(store, messenger, fast(), chores=chore).run()
    assert calls, "the chores were never run"
    assert sorted(messenger.sent) == ["a@example.org", "b@example.org"]


def test_a_paused_campaign_is_not_sent_and_its_rows_stay_queued():
    store = FakeStore(rows("a@example.org", "b@example.org"), campaigns={1: "paused"})
    messenger = FakeMessenger()
    stats = Worker(store, messenger, fast()).run()
    assert messenger.sent == [] and stats.sent == 0
    assert {r.state for r in store.rows.values()} == {"queued"}


def test_the_engines_final_dispositions_are_the_delivery_ledgers_states():
    finals = {d.value for d in Disposition} - {Disposition.RETRY, Disposition.RELEASE}
    assert finals <= set(Delivery.State.values)
    assert {Verdict.WITHDRAWN.value, Verdict.SUPPRESSED.value} <= set(Delivery.State.values)


class SlowRecordingStore(FakeStore):
    """A store whose commits take a while, as on a loaded database: the senders run ahead of it."""

    def __init__(self, rows, delay):
        super().__init__(rows)
        self.delay = delay
        self.recorded_sent = set()

    def claim(self, limit):
        threading.Event().wait(self.delay)  # a claim transaction costs as much as a commit
        return super().claim(limit)

    def record(self, outcomes):
        threading.Event().wait(self.delay)
        super().record(outcomes)
        with self.lock:
            self.recorded_sent.update(o.delivery_id for o in outcomes if o.state == Disposition.SENT)


class CountingMessenger(FakeMessenger):
    """Notes, at the start of every SMTP transaction, how many sent messages the store has not recorded:
    the copies a kill at that moment would have sent again."""

    def __init__(self, store, lanes):
        super().__init__(lanes=lanes)
        self.store = store
        self.sent_ids = set()
        self.most_unrecorded = 0

    def build(self, claimed):
        return ("message", claimed.email, claimed.delivery_id)

    def send(self, lane, message, before_transaction):
        veto = before_transaction()
        if veto is not None:
            return veto
        _kind, _email, delivery_id = message
        with self.lock, self.store.lock:
            self.sent_ids.add(delivery_id)
            unrecorded = len(self.sent_ids - self.store.recorded_sent)
            self.most_unrecorded = max(self.most_unrecorded, unrecorded)
        return FakeReply(ReplyKind.SENT, 250, "ok")


def test_sent_but_unrecorded_messages_never_exceed_the_duplicate_bound_even_when_recording_is_slow():
    """DELIVERY_DUPLICATE_BOUND promises at most that many copies resent per killed worker
    (docs/delivery.md): the senders must wait for the record, not run ahead of a slow database."""
    store = SlowRecordingStore(rows(*(f"leser{i}@example.org" for i in range(600))), delay=0.05)
    messenger = CountingMessenger(store, lanes=4)
    Worker(store, messenger, fast(duplicate_bound=20, batch_size=200)).run()
    assert len(messenger.sent_ids) == 600
    assert messenger.most_unrecorded <= 20, f"{messenger.most_unrecorded} sent messages were unrecorded at once"


class SlowBuildingMessenger(FakeMessenger):
    """Building takes a while per message, as RSA signing does; notes how many were sent when the last was built."""

    def __init__(self, lanes, total):
        super().__init__(lanes=lanes)
        self.total = total
        self.built = 0
        self.sent_when_built = None

    def build(self, claimed):
        threading.Event().wait(0.002)
        with self.lock:
            self.built += 1
            if self.built == self.total:
                self.sent_when_built = len(self.sent)
        return super().build(claimed)


def test_senders_keep_sending_while_a_long_batch_is_built():
    """The permits of the duplicate bound come back only when outcomes are recorded: the worker records
    while it builds a batch, so the senders do not stall for the rest of it (docs/delivery.md)."""
    store = FakeStore(rows(*(f"leser{i}@example.org" for i in range(200))))
    messenger = SlowBuildingMessenger(lanes=4, total=200)
    Worker(store, messenger, fast(duplicate_bound=20, batch_size=200)).run()
    assert len(messenger.sent) == 200
    assert messenger.sent_when_built > 20, "sending stalled at the bound until the batch was built"
