"""The duplicate bound at full speed: `rundbrief deliver` killed with SIGKILL at random moments.

docs/delivery.md promises at most DELIVERY_DUPLICATE_BOUND copies resent per killed worker. A
promise like that held in an earlier test only because the test sent slowly (two connections,
batches of 50); measured from outside with the default settings it was broken by a factor of
three to seven. So here the worker runs with its defaults (DELIVERY_CONCURRENCY connections,
DELIVERY_BATCH_SIZE rows a claim) and is killed many times, each time at a random moment while
messages are flowing, and every resent copy is charged to the kill that lost its record: the
kill that came after the copy before it was accepted. The bound must hold for each kill, not only
on average.

The database is not left idle meanwhile: another writer takes the write lock for a quarter of a
second, twice a second, as sign-ups, withdrawals and other workers do in production. That is when
senders run ahead of their records if nothing holds them back: recording is what waits for the
lock, sending is not. (Without the writer, a broken engine that records every few messages keeps
up at the speed a test receiver allows, and the test passed against it.)
"""

import bisect
import collections
import random
import signal
import threading
import time

import pytest
from django.conf import settings as django_settings
from django.db import connection

from rundbrief.delivery.models import Delivery
from tests.support.campaigns import make_audience, scheduled_campaign
from tests.support.smtp import SmtpServer
from tests.support.workers import start_worker, wait_all, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

RECIPIENTS = 6000
KILLS = 8


def wait_for_new_messages(server, seen, timeout=60):
    """Block until the server has accepted more than `seen` messages: the new worker is sending."""
    deadline = time.monotonic() + timeout
    while len(server.messages) <= seen:
        assert time.monotonic() < deadline, "the restarted worker sent nothing"
        time.sleep(0.01)


class LockingWriter(threading.Thread):
    """Holds the database's write lock for `hold` seconds every `every` seconds until stopped."""

    def __init__(self, table, hold=0.25, every=0.5):
        super().__init__(daemon=True)
        self.table, self.hold, self.every = table, hold, every
        self.stop = threading.Event()
        self.stalls = 0

    def run(self):
        try:
            while not self.stop.wait(self.every - self.hold):
                with connection.cursor() as cursor:
                    if connection.vendor == "sqlite":
                        cursor.execute("BEGIN IMMEDIATE")  # the one write lock SQLite has
                    else:
                        cursor.execute("BEGIN")
                        # SHARE blocks UPDATEs of the ledger (claims and records) and lets reads go on.
                        cursor.execute(f"LOCK TABLE {connection.ops.quote_name(self.table)} IN SHARE MODE")
                    time.sleep(self.hold)
                    cursor.execute("COMMIT")
                self.stalls += 1
        finally:
            connection.close()


def test_each_sigkill_at_full_speed_resends_at_most_the_duplicate_bound(finance):
    bound = django_settings.DELIVERY_DUPLICATE_BOUND
    make_audience(finance, RECIPIENTS)
    campaign = scheduled_campaign([finance])
    kill_times = []
    with SmtpServer() as server:
        env = worker_env(server)
        rng = random.Random()
        writer = LockingWriter(Delivery._meta.db_table)
        writer.start()
        began = time.time()
        while len(kill_times) < KILLS:
            seen = len(server.messages)
            worker = start_worker(env)  # the defaults: full speed
            wait_for_new_messages(server, seen)
            time.sleep(rng.uniform(0.3, 1.5))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            kill_times.append(time.time())
            if len({r for m in server.messages for r in m.rcpt_tos}) >= RECIPIENTS:
                break  # the campaign ran out before the kills did; what was killed still counts
        writer.stop.set()
        writer.join()
        wait_all([start_worker(env)])
        messages = server.messages
    copies = collections.defaultdict(list)
    for message in messages:
        for rcpt in message.rcpt_tos:
            copies[rcpt].append(message)
    assert len(copies) == RECIPIENTS, "a recipient was lost"
    ids = {rcpt: {m.mail["Message-ID"] for m in got} for rcpt, got in copies.items() if len(got) > 1}
    assert all(len(one) == 1 for one in ids.values()), "a resent copy had a new Message-ID"
    resent_per_kill = collections.Counter()
    for got in copies.values():
        # Each copy after the first was resent because the kill after the copy before it lost its record.
        times = sorted(m.at for m in got)
        for before in times[:-1]:
            resent_per_kill[bisect.bisect_left(kill_times, before)] += 1
    rate = len(messages) / max(0.001, messages[-1].at - began)
    print(
        f"{len(kill_times)} kills, {writer.stalls} stalls, ~{rate:.0f} msg/s; resent per kill: {dict(sorted(resent_per_kill.items()))}"
    )
    # Every kill hit a worker in the middle of sending, or the test proves nothing.
    assert len(kill_times) >= KILLS - 2, f"the campaign finished after {len(kill_times)} kills"
    assert max(resent_per_kill.values(), default=0) <= bound, resent_per_kill
    assert Delivery.objects.filter(campaign=campaign).exclude(state="sent").count() == 0
