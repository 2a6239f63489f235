"""Sending webhook messages: a chore of the delivery workers, on the leased job queue of db/queue.py.

- Claim: `deliver_webhooks()` runs every few seconds in every worker (ops/worker.py CHORES). It
  claims due messages of active endpoints under a lease (SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE
  on SQLite), so several workers take disjoint rows; a worker that dies leaves the lease to run out
  and the message is claimed again: at least once, never lost. Receivers deduplicate by `webhook-id`.
- Send: one signed POST per message (signatures.py, transport.py); only a 2xx answer is success.
- Record: each attempt is logged (Attempt). A failure is retried after 30 s, 1 min, 2 min, … at most
  6 h apart, for 3 days from the first attempt; then the message is given up. After a failure the
  rest of that endpoint's claim waits for the same time, so a receiver that is down is not hammered
  and its events keep their order.
- An endpoint with no success for 24 h of failures is disabled (actions.disable_endpoint).

A chore shares the worker's loop with campaign sending, hence the small batch and the time budget:
a receiver that times out delays the next campaign batch by at most BUDGET_SECONDS plus one timeout.
"""

import logging
import os
import socket
import time
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rundbrief.db.queue import JobQueue, Partition, Retry
from rundbrief.webhooks import actions, events, signatures, transport
from rundbrief.webhooks.models import Attempt, Endpoint, WebhookMessage

log = logging.getLogger(__name__)
State = WebhookMessage.State

BATCH = 20  # messages per claim
LEASE = timedelta(minutes=5)  # well above BUDGET_SECONDS + one timeout: a claim's rows are recorded before it runs out
BUDGET_SECONDS = 30.0  # no new request after this long in one call; the rest go back to the queue
RETRY = Retry(max_attempts=2**31, base_seconds=30, cap_seconds=6 * 3600)  # given up by time, below
GIVE_UP_AFTER = timedelta(days=3)
DISABLE_AFTER = timedelta(hours=24)

QUEUE = JobQueue.of(
    WebhookMessage,
    state="state",
    waiting=State.WAITING.value,
    held=State.SENDING.value,
    lease="lease_until",
    next_attempt="next_attempt_at",
    holder="worker",
    given_up=("state = %s", (State.FAILED.value,)),  # kept as the delivery log, counted in /metrics
    # Only active endpoints' messages are claimed; a disabled one's wait for it to be switched on.
    partition=Partition("endpoint_id", f"SELECT id FROM {Endpoint._meta.db_table} WHERE active ORDER BY id"),
)


def has_due(now):
    """A plain read, asked before claiming: on SQLite a claim takes the write lock even for nothing."""
    waiting = Q(state=State.WAITING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    abandoned = Q(state=State.SENDING, lease_until__lt=now)  # a dead worker's
    return WebhookMessage.objects.filter(waiting | abandoned, endpoint__active=True).exists()


def deliver_webhooks(limit=BATCH, *, clock=timezone.now) -> int:
    """Claim up to `limit` due messages, send each, record each; returns how many were claimed.
    `clock`: the time the queue's decisions use (tests move it; the signature's timestamp is the wall clock)."""
    now = clock()
    if not has_due(now):
        return 0
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    ids = [row_id for (row_id,) in QUEUE.claim(limit, LEASE, now, holder)]
    started = time.monotonic()
    held_back = {}  # endpoint id → when the rest of its messages are due again
    for row in WebhookMessage.objects.filter(pk__in=ids).select_related("endpoint").order_by("pk"):
        if row.endpoint_id in held_back or time.monotonic() - started > BUDGET_SECONDS:
            # Not attempted, so no attempt is counted: back to the queue as it was.
            QUEUE.retry_later([(row.pk, held_back.get(row.endpoint_id, clock()))])
            continue
        answer = send(row)
        retry_at = record(row, answer, clock(), holder)
        if not answer.succeeded:
            held_back[row.endpoint_id] = retry_at or clock() + timedelta(seconds=RETRY.base_seconds)
    return len(ids)


def send(row):
    headers = signatures.signed_headers(row.endpoint.secret, row.msg_id, row.payload)
    return transport.post(row.endpoint.url, row.payload, headers)


def record(row, answer, now, holder):
    """Log the attempt and move the message on; returns when it is tried again (None: not again)."""
    attempts = row.attempts + 1
    mine = WebhookMessage.objects.filter(pk=row.pk, worker=holder, state=State.SENDING)
    retry_at = None
    with transaction.atomic():
        Attempt.objects.create(
            message_id=row.pk,
            at=now,
            status_code=answer.status_code,
            error=answer.error,
            duration_ms=answer.duration_ms,
        )
        if answer.succeeded:
            mine.update(state=State.DELIVERED, attempts=attempts, delivered_at=now, lease_until=None, worker="")
            Endpoint.objects.filter(pk=row.endpoint_id, failing_since__isnull=False).update(failing_since=None)
            return None
        if now - row.series_started_at >= GIVE_UP_AFTER:
            mine.update(state=State.FAILED, attempts=attempts, lease_until=None, next_attempt_at=None, worker="")
            log.warning("webhook %s to endpoint %s given up after %d attempts", row.msg_id, row.endpoint_id, attempts)
        else:
            retry_at = RETRY.next_attempt_at(attempts, now)
            mine.update(state=State.WAITING, attempts=attempts, lease_until=None, next_attempt_at=retry_at, worker="")
        Endpoint.objects.filter(pk=row.endpoint_id, failing_since__isnull=True).update(failing_since=now)
    failing = Endpoint.objects.filter(pk=row.endpoint_id, active=True, failing_since__lte=now - DISABLE_AFTER)
    since = failing.values_list("failing_since", flat=True).first()
    if since is not None:
        reason = f"no successful delivery since {events.iso(since)}; last answer: {answer}"
        actions.disable_endpoint(row.endpoint_id, reason)
    return retry_at


def send_test_event(endpoint, *, now=None):
    """Send a `webhook.test` event to `endpoint` now, whatever it subscribed to and even if it is
    switched off (to try it before switching it on); logged like any message, never retried.
    Returns the transport.Answer."""
    now = now or timezone.now()
    data = {"endpoint": endpoint.pk, "description": endpoint.description}
    row = WebhookMessage.objects.create(
        endpoint=endpoint,
        msg_id=events.new_msg_id(),
        event_type=events.TEST_EVENT,
        payload=events.body(events.TEST_EVENT, data, now),
        state=State.SENDING,
        worker="test",
        lease_until=now + LEASE,
        created_at=now,
        series_started_at=now,
    )
    answer = send(row)
    with transaction.atomic():
        Attempt.objects.create(
            message=row, at=now, status_code=answer.status_code, error=answer.error, duration_ms=answer.duration_ms
        )
        WebhookMessage.objects.filter(pk=row.pk).update(
            state=State.DELIVERED if answer.succeeded else State.FAILED,
            attempts=1,
            delivered_at=now if answer.succeeded else None,
            lease_until=None,
            worker="",
        )
    return answer
