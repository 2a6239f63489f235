"""Sending rates: a transport's limits, global across workers, and per-domain buckets, per worker.

- A transport's `per_second` and `per_hour` hold for the whole installation: every worker
  process, on every host, takes tokens from fixed windows counted in the database
  (`SharedLimit`, rundbrief/db/windows.py), in chunks, so a window costs a few writes, not one per message.
- `per_hour` is also paced within each process by a token bucket (per_hour/3600 a second, bursts
  of a minute's worth), as before the windows were shared: one worker does not spend the hour's
  budget in its first minutes, and the hour window's writes stay few.
- Per-domain limits (DELIVERY_PER_DOMAIN_PER_SECOND) stay per process: a database write per
  domain and second would cost more than the sending at thousands of domains.

Thread-safe: the sender threads of one process share them. `acquire(stop)` returns False when
`stop` was set before a token was had; the caller must then not send.
"""

import logging
import math
import threading
import time

from django.db import Error, close_old_connections, connection

from rundbrief.db import windows

log = logging.getLogger("rundbrief.delivery")

# Chunks per window: a worker asks the database for a tenth of a one-second window's budget at a
# time (at most 10 full grants and 1 partial one per second per worker: about 11 writes/s), and
# for 1/360 of an hour's (one grant per 10 s of the paced rate). Tokens a worker holds when its
# window ends are lost to that window, so this is also what can be stranded: at most a tenth of
# a second's budget per worker, or 10 s worth of an hour's.
SHORT_WINDOW_CHUNKS, LONG_WINDOW_CHUNKS = 10, 360
RETRY_FIRST, RETRY_MAX = 0.25, 5.0  # after a failed grant (SQLite busy, database away)
FETCH_POLL = 0.005  # another thread of this process is asking the database already


class TokenBucket:
    def __init__(self, rate: float, capacity: float | None = None, clock=time.monotonic):
        self.rate = rate  # tokens per second; 0 = unlimited
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()
        self.lock = threading.Lock()

    def delay(self) -> float:
        """Take one token; return how long to wait before using it (0 when available now)."""
        if self.rate <= 0:
            return 0.0
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            self.tokens -= 1
            return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def acquire(self, stop=None) -> bool:
        wait = self.delay()
        if wait > 0:
            if stop is not None:
                return not stop.wait(wait)
            time.sleep(wait)
        return True


class DomainBuckets:
    """One bucket per recipient domain, created on first use."""

    def __init__(self, rate: float):
        self.rate = rate
        self.buckets = {}
        self.lock = threading.Lock()

    def for_domain(self, domain: str) -> TokenBucket:
        with self.lock:
            bucket = self.buckets.get(domain)
            if bucket is None:
                bucket = self.buckets[domain] = TokenBucket(self.rate)
            return bucket


def fixed_window(amount: float, seconds: int) -> tuple[int, int]:
    """(limit, window length) for at most `amount` messages per `seconds`, in whole messages.

    0.5 per second becomes 1 per 2 s; 2.5 per second becomes 2 per second: never more than asked."""
    if amount >= 1:
        return int(amount), seconds
    return 1, math.ceil(seconds / amount)


class SharedLimit:
    """At most `limit` messages per fixed window of `seconds`, summed over every worker sharing the database.

    Windows start at multiples of `seconds` in Unix time, so workers on different hosts agree
    on them as far as their clocks agree (NTP). A thread that finds this process's tokens used
    up asks the database for a chunk (`grant`: windows.grant); a grant smaller than asked means
    the window is spent, and everyone waits for the next one without asking again.
    """

    def __init__(self, key: str, limit: int, seconds: int, grant, *, chunk: int | None = None, clock=time.time):
        self.key, self.limit, self.seconds, self.grant, self.clock = key, limit, seconds, grant, clock
        per_window = SHORT_WINDOW_CHUNKS if seconds < 60 else LONG_WINDOW_CHUNKS
        self.chunk = chunk or max(1, math.ceil(limit / per_window))
        # Windows younger than this stay in the table, so a worker whose clock lags still finds its
        # window's count rather than a fresh row; older ones this limiter deletes as often.
        self.keep = max(60, seconds)
        self.lock = threading.Lock()
        self.window = None  # start of the window the tokens below belong to
        self.tokens = 0
        self.spent = False
        self.fetching = False
        self.forgot_at = None
        self.retry_wait = RETRY_FIRST

    def acquire(self, stop) -> bool:
        while True:
            wait = self.take()
            if wait <= 0:
                return True
            if stop.wait(wait):
                return False

    def take(self) -> float:
        """Take one token: 0.0 when taken, else how many seconds to wait before trying again."""
        while True:
            with self.lock:
                now = self.clock()
                start = int(now // self.seconds) * self.seconds
                if start != self.window:
                    # Tokens of a past window are never carried over: they count against that window.
                    self.window, self.tokens, self.spent = start, 0, False
                if self.tokens:
                    self.tokens -= 1
                    return 0.0
                if self.spent:
                    return start + self.seconds - now
                if self.fetching:
                    return FETCH_POLL
                self.fetching = True
                forget_before = None
                if self.forgot_at is None or now - self.forgot_at >= self.keep:
                    forget_before, self.forgot_at = start - self.keep, now
            try:
                granted = self.grant(self.key, self.seconds, start, self.limit, self.chunk, forget_before)
            except Error as exc:
                # Nothing was granted that we know of (a grant lost with the connection only strands
                # tokens): send nothing, wait, ask again. Any database error, so that a missing
                # migration also leaves a worker that logs and waits, not one with dead senders.
                with self.lock:
                    self.fetching, wait = False, self.retry_wait
                    self.retry_wait = min(self.retry_wait * 2, RETRY_MAX)
                log.warning("rate limit %s: cannot take tokens (%s); retrying in %.2f s", self.key, exc, wait)
                if not connection.in_atomic_block:
                    close_old_connections()  # a connection the database dropped is reopened on the next try
                return wait
            with self.lock:
                self.fetching, self.retry_wait = False, RETRY_FIRST
                if self.window == start:
                    self.tokens += granted
                    self.spent = granted < self.chunk


def transport_limits(key: str, per_second: float, per_hour: float) -> list:
    """The limits a message to this transport waits for, longest window first (the last token is spent at once).

    Empty for an unlimited transport: no database traffic at all."""
    limits = []
    if per_hour > 0:
        limits.append(TokenBucket(per_hour / 3600.0, capacity=max(1.0, per_hour / 60.0)))
        limit, seconds = fixed_window(per_hour, 3600)
        limits.append(SharedLimit(key, limit, seconds, windows.grant))
    if per_second > 0:
        limit, seconds = fixed_window(per_second, 1)
        limits.append(SharedLimit(key, limit, seconds, windows.grant))
    return limits
