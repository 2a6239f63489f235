"""The leased job queue (rundbrief/db/queue.py) on a table of its own, on SQLite and PostgreSQL.

Both shapes of queue are tried: with a `held` state and a next-attempt column (as the delivery
ledger) and with the lease column alone (as the sign-up intake's confirmation mails).
"""

import collections
import datetime as dt
import threading

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rundbrief.db.queue import JobQueue, Partition, Retry, backoff

pytestmark = pytest.mark.django_db(transaction=True)  # claimers in threads see each other's commits


class Job(models.Model):
    state = models.CharField(max_length=10, default="waiting")
    part = models.IntegerField(default=1)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True)
    next_attempt_at = models.DateTimeField(null=True)
    holder = models.CharField(max_length=20, blank=True)

    class Meta:
        app_label = "job_queue_tests"
        db_table = "job_queue_test_job"


OPEN_PARTS = "SELECT 1 UNION ALL SELECT 2"  # part 3 is closed (as a paused campaign): never claimed
HELD = JobQueue.of(
    Job,
    state="state",
    waiting="waiting",
    held="held",
    next_attempt="next_attempt_at",
    holder="holder",
    partition=Partition("part", OPEN_PARTS),
    given_up=("state = %s", ("failed",)),
)
LEASE_ONLY = JobQueue.of(Job, state="state", waiting="waiting", count_on_claim=True)
SHAPES = pytest.mark.parametrize("queue", [HELD, LEASE_ONLY], ids=["held-state", "lease-only"])
LEASE = dt.timedelta(seconds=30)


@pytest.fixture
def jobs(transactional_db):
    with connection.schema_editor() as editor:
        editor.create_model(Job)
    yield Job.objects
    with connection.schema_editor() as editor:
        editor.delete_model(Job)


def add(n, part=1, **fields):
    # The lease-only shape finds due rows by their lease; a new row is due at once.
    fields.setdefault("lease_until", timezone.now() - dt.timedelta(seconds=1))
    Job.objects.bulk_create([Job(part=part, **fields) for _ in range(n)])


@SHAPES
def test_claimers_in_four_threads_never_take_the_same_row(jobs, queue):
    add(300, part=1)
    add(300, part=2)
    add(20, part=3)
    claims = collections.Counter()
    start = threading.Barrier(4)
    failures = []

    def claimer(name):
        try:
            start.wait()
            for _ in range(200):  # about 90 claims take every row; a broken queue may never run dry
                rows = queue.claim(7, dt.timedelta(hours=1), timezone.now(), holder=name)
                if not rows:
                    break
                claims.update(row_id for row_id, *_ in rows)
        except Exception as exc:  # noqa: BLE001 — reported by the test
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer, args=(f"claimer-{i}",), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    twice = [row_id for row_id, n in claims.items() if n > 1]
    assert twice == [], f"{len(twice)} rows claimed twice"
    expected = set(jobs.filter(part__in=[1, 2]).values_list("id", flat=True))
    if queue is LEASE_ONLY:  # no partitions: every due row
        expected |= set(jobs.filter(part=3).values_list("id", flat=True))
    assert set(claims) == expected


@SHAPES
def test_a_lease_that_runs_out_returns_the_row_to_any_claimer(jobs, queue):
    add(1)
    row_id = jobs.get().pk
    t0 = timezone.now()
    assert [r[0] for r in queue.claim(10, LEASE, t0, holder="a")] == [row_id]
    assert queue.claim(10, LEASE, t0 + dt.timedelta(seconds=29), holder="b") == [], "held while the lease lasts"
    assert [r[0] for r in queue.claim(10, LEASE, t0 + dt.timedelta(seconds=31), holder="b")] == [row_id]
    if queue is HELD:  # a holder column: the first claimer knows it lost the row, and cannot renew it
        later = t0 + dt.timedelta(seconds=32)
        assert queue.lease_left([row_id], later, holder="a") == {}
        assert queue.lease_left([row_id], later, holder="b")[row_id] == pytest.approx(29, abs=0.5)
        queue.renew([row_id], dt.timedelta(hours=1), later, holder="a")
        assert queue.lease_left([row_id], later, holder="b")[row_id] == pytest.approx(29, abs=0.5)
        queue.renew([row_id], dt.timedelta(hours=1), later, holder="b")
        assert queue.lease_left([row_id], later, holder="b")[row_id] == pytest.approx(3600, abs=0.5)


def test_back_off_doubles_from_the_base_and_stops_at_the_cap():
    assert [backoff(n, 60) for n in range(1, 6)] == [60, 120, 240, 480, 960]
    assert backoff(0, 60) == 60  # no failure counted yet: the base
    assert backoff(10, 60) == 6 * 3600 and backoff(10_000, 60) == 6 * 3600
    assert backoff(3, 1, cap=3) == 3


@SHAPES
def test_a_job_that_fails_every_time_is_retried_with_back_off_and_given_up_after_n_attempts(jobs, queue):
    retry = Retry(max_attempts=5, base_seconds=60)
    add(1)
    now, claimed_at = timezone.now(), []
    while rows := queue.claim(10, LEASE, now, holder="w"):
        ((row_id, *_),) = rows
        claimed_at.append(now)
        if queue.count_on_claim:
            attempts = jobs.get().attempts
        else:  # the caller counts the attempt when it records the outcome
            attempts = jobs.get().attempts + 1
            jobs.update(attempts=attempts)
        retry_at = retry.next_attempt_at(attempts, now)
        if retry_at is None:
            jobs.update(state="failed")  # given up
            break
        queue.retry_later([(row_id, retry_at)])
        assert queue.claim(10, LEASE, retry_at - dt.timedelta(seconds=1), holder="w") == [], "not before its time"
        now = retry_at
    assert len(claimed_at) == 5
    waits = [(b - a).total_seconds() for a, b in zip(claimed_at, claimed_at[1:], strict=False)]
    assert waits == [60, 120, 240, 480]


def test_counts_tell_due_leased_and_given_up_rows_apart(jobs):
    now = timezone.now()
    add(3, part=1, state="waiting")  # due
    add(1, part=1, state="waiting", next_attempt_at=now + dt.timedelta(minutes=5))  # waits for its retry
    add(2, part=2, state="held", lease_until=now + dt.timedelta(seconds=10))  # leased
    add(1, part=2, state="held", lease_until=now - dt.timedelta(seconds=10))  # a dead holder's: due
    add(4, part=3, state="waiting")  # closed partition: not due
    add(2, part=3, state="failed")
    assert HELD.counts(now) == {"due": 4, "leased": 2, "given_up": 2}


def test_each_claim_statement_names_one_partition_and_one_state(jobs):
    """The hot path walks an index (partition, state, id): no OR across states, no join."""
    add(5, part=1)
    add(5, part=2)
    with CaptureQueriesContext(connection) as queries:
        HELD.claim(8, LEASE, timezone.now(), holder="w")
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    # part 1: expired leases (none), due rows (5); part 2: expired leases (none), due rows (3)
    assert len(updates) == 4
    for sql in updates:
        where = sql.split(" WHERE ", 2)[2]
        assert where.count("part = ") == 1 and where.count("state = ") == 1
        assert " OR " not in where.replace("next_attempt_at IS NULL OR next_attempt_at", "")
        assert "JOIN" not in sql.upper()
        if connection.vendor == "postgresql":
            assert "FOR UPDATE SKIP LOCKED" in sql
