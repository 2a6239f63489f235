"""The world moving while bench/soak.py sends: sign-ups, one-click withdrawals and erasures over HTTP.

Each action goes through the product's public surface, as a reader or an operator would use it:
- sign-up: `POST /api/v1/subscriptions` (JSON), a new address each time;
- withdrawal: the one-click POST to the subscriber's List-Unsubscribe link (RFC 8058 §3.1), the
  link made as the delivery engine makes it (`audience.links.unsubscribe_url`);
- erasure: `DELETE /api/v1/subscribers/<public id>` with a token holding the `erase` scope.

Every request is written to the ledger, one line each:
`KIND N PUBLIC_ID SENT_AT DONE_AT STATUS` (epoch seconds; DONE_AT is when the response arrived, which
the invariants take as the commit time: the commit happened before it). Withdrawals and erasures
pick subscribers of the campaign: half at random, half just ahead of the sending front (the next
few thousand recipients in claim order), so some are withdrawn while their row is claimed or in
flight, the case the consent check at send time exists for.
"""

import http.client
import queue
import random
import threading
import time
from urllib.parse import urlsplit

SIGNUP, WITHDRAW, ERASE = "signup", "withdraw", "erase"
AHEAD = 3000  # how far past the sending front the "near" picks reach


def public_id(n):
    """The public id bench/soak.py gives subscriber n (lpad(to_hex(n), 32, '0'))."""
    return f"{n:032x}"


class Load:
    """Rate-paced actions from a pool of threads; `front()` says how many messages have been sent."""

    def __init__(self, base_url, ledger_path, *, subscribers, rates, erase_token, front, threads=32, seed=17):
        self.base = urlsplit(base_url)
        self.ledger = open(ledger_path, "a", buffering=1)  # noqa: SIM115 — open while the load runs
        self.subscribers = subscribers
        self.rates = rates  # {kind: per second}
        self.erase_token = erase_token
        self.front = front
        self.random = random.Random(seed)
        self.picked = set()
        self.lock = threading.Lock()
        self.jobs = queue.Queue()
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._pace, args=(kind, rate), daemon=True)
            for kind, rate in rates.items()
            if rate > 0
        ]
        self.threads += [threading.Thread(target=self._work, daemon=True) for _ in range(threads)]
        self.counts = {}
        self.latencies = []  # (kind, seconds)
        self.late = 0  # jobs that waited more than a second for a free thread: the generator fell behind

    def start(self):
        for thread in self.threads:
            thread.start()

    def summary(self, seconds):
        """Per kind: requests per second achieved, answers by status, and the latency's median and p99."""
        lines = []
        for kind in self.rates:
            mine = sorted(d for k, d in self.latencies if k == kind)
            if not mine:
                continue
            statuses = ", ".join(f"{status}: {n}" for (k, status), n in sorted(self.counts.items()) if k == kind)
            lines.append(
                f"load {kind}: {len(mine) / seconds:.1f}/s of {self.rates[kind]:g}/s asked ({statuses}); "
                f"latency median {1000 * mine[len(mine) // 2]:.0f} ms, p99 {1000 * mine[int(len(mine) * 0.99)]:.0f} ms"
            )
        return lines

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)
        self.ledger.close()

    # -- pacing: one job every 1/rate seconds, on a fixed schedule (no drift) ---------------------
    def _pace(self, kind, rate):
        started, i = time.monotonic(), 0
        while not self.stop.is_set():
            due = started + i / rate
            wait = due - time.monotonic()
            if wait > 0 and self.stop.wait(wait):
                return
            self.jobs.put((kind, i, due))
            i += 1

    def _pick(self):
        """A subscriber of the campaign no other action has picked yet."""
        with self.lock:
            while True:
                if self.random.random() < 0.5:
                    base = self.front()
                    n = self.random.randint(base + 1, base + AHEAD)
                else:
                    n = self.random.randint(1, self.subscribers)
                if 1 <= n <= self.subscribers and n not in self.picked:
                    self.picked.add(n)
                    return n

    def _work(self):
        from rundbrief.audience.links import unsubscribe_url

        while not self.stop.is_set():
            try:
                kind, i, due = self.jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            if time.monotonic() - due > 1:
                self.late += 1
            if kind == SIGNUP:
                n = i
                body = f'{{"email":"neu{i}@beispiel.example","consent_text_version":1}}'
                headers = {"Content-Type": "application/json"}
                method, path = "POST", "/api/v1/subscriptions"
            elif kind == WITHDRAW:
                n = self._pick()
                method, path = "POST", urlsplit(unsubscribe_url(public_id(n))).path
                body = "List-Unsubscribe=One-Click"  # RFC 8058 §3.1
                headers = {"Content-Type": "application/x-www-form-urlencoded"}
            else:
                n = self._pick()
                method, path, body = "DELETE", f"/api/v1/subscribers/{public_id(n)}", None
                headers = {"Authorization": f"Bearer {self.erase_token}"}
            sent = time.time()
            status = self._request(method, path, body, headers)
            done = time.time()
            with self.lock:
                self.counts[(kind, status)] = self.counts.get((kind, status), 0) + 1
                self.latencies.append((kind, done - sent))
                self.ledger.write(f"{kind} {n} {public_id(n)} {sent:.3f} {done:.3f} {status}\n")

    def _request(self, method, path, body, headers):
        connection = http.client.HTTPConnection(self.base.hostname, self.base.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except OSError:
            return 0  # no answer: recorded as status 0, and its subscriber left out of "nobody lost"
        finally:
            connection.close()
