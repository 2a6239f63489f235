"""Two small pieces of sender-thread bookkeeping the engine keeps (docs/delivery.md, "Invariants").

- `UnrecordedPermits`: a kill loses the outcomes of messages sent but not yet recorded, and those
  are sent again. A sender takes one of `bound` permits before its SMTP transaction and the
  permit comes back only when the outcome is committed, so however far the database falls
  behind, no more than `bound` messages are ever sent but unrecorded.
- `DomainCooldown`: after a 4xx reply a recipient domain is not knocked on again until its
  cool-down ends (RFC 5321 §4.2.5: a transient failure; the receiver asks us to come back later).
"""

import threading
import time


class UnrecordedPermits:
    def __init__(self, bound: int):
        self._free = threading.Semaphore(max(1, bound))
        self._holders: set[int] = set()
        self._lock = threading.Lock()

    def take(self, delivery_id: int, halt: threading.Event) -> bool:
        """Wait for a permit for `delivery_id`; False if `halt` was set meanwhile (send nothing then)."""
        while not self._free.acquire(timeout=0.1):
            if halt.is_set():
                return False
        with self._lock:
            self._holders.add(delivery_id)
        return True

    def give_back(self, delivery_ids):
        """The outcomes of these rows are committed: their permits, if they held one, are free again."""
        with self._lock:
            held = [i for i in delivery_ids if i in self._holders]
            self._holders.difference_update(held)
        for _ in held:
            self._free.release()


class DomainCooldown:
    def __init__(self, clock=time.time):
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()
        self.clock = clock

    def until(self, domain: str) -> float | None:
        """The end of `domain`'s cool-down (Unix time) while it lasts, else None."""
        with self._lock:
            until = self._until.get(domain)
        return until if until and until > self.clock() else None

    def start(self, domain: str, seconds: float):
        with self._lock:
            self._until[domain] = self.clock() + seconds
