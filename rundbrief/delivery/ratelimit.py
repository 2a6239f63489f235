"""Token buckets for sending rates (per transport per second and per hour, per recipient domain).

Limits hold per worker process; with W workers, give each 1/W of the total
(docs/delivery.md). Thread-safe: the sender threads of one process share them.
"""

import threading
import time


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

    def acquire(self, stop=None):
        wait = self.delay()
        if wait > 0:
            if stop is not None:
                stop.wait(wait)
            else:
                time.sleep(wait)


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
