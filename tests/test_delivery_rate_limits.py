"""A transport's `per_second` and `per_hour` hold across every worker process sharing the database.

Limiters are separate objects here, as separate processes would have them; they share
nothing but the database. Their clock is a number the test sets, so windows are crossed
without sleeping.
"""

import collections
import math
import re
import sqlite3
import threading
import time
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rundbrief.campaigns.models import Campaign
from rundbrief.config import ConfigError
from rundbrief.db import windows
from rundbrief.db.models import RateWindow
from rundbrief.delivery.engine import Options
from rundbrief.delivery.models import Delivery
from rundbrief.delivery.ratelimit import SharedLimit, TokenBucket, fixed_window, transport_limits
from rundbrief.ops.worker import build_worker
from rundbrief.outbound.transport import parse_transport
from tests.support.campaigns import make_audience, scheduled_campaign
from tests.support.smtp import SmtpServer
from tests.support.workers import run_worker, start_worker, wait_all, worker_env

T0 = 1_800_000_000.0  # a whole hour in Unix time: window arithmetic is easy to read


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


class CountingGrant:
    """windows.grant, counting the database writes it makes."""

    def __init__(self):
        self.calls = 0

    def __call__(self, *args):
        self.calls += 1
        return windows.grant(*args)


def limiter(key, limit, seconds=1, clock=None, chunk=None, grant=windows.grant):
    return SharedLimit(key, limit, seconds, grant, chunk=chunk, clock=clock or Clock())


def take_all(limiter_):
    """Tokens one limiter hands out before it has to wait."""
    taken = 0
    while limiter_.take() == 0.0:
        taken += 1
    return taken


def granted(key, seconds=1):
    return dict(RateWindow.objects.filter(key=key, window_seconds=seconds).values_list("window_start", "count"))


# -- the grant statement -------------------------------------------------------


@pytest.mark.django_db
def test_a_grant_is_partial_when_less_than_asked_is_left_and_zero_once_spent():
    grants = [windows.grant("relay:25:a", 1, int(T0), 10, 4) for _ in range(4)]
    assert grants == [4, 4, 2, 0]
    assert granted("relay:25:a") == {int(T0): 10}


@pytest.mark.django_db
def test_a_lowered_limit_grants_nothing_in_a_window_already_past_it():
    windows.grant("relay:25:a", 1, int(T0), 10, 10)
    assert windows.grant("relay:25:a", 1, int(T0), 5, 3) == 0
    assert granted("relay:25:a") == {int(T0): 10}


# -- limiters sharing the database ---------------------------------------------


@pytest.mark.django_db
def test_two_limiters_sharing_the_database_never_hand_out_more_than_the_limit_in_one_window():
    clock = Clock(T0 + 0.2)
    first, second = limiter("relay:25:a", 20, clock=clock), limiter("relay:25:a", 20, clock=clock)
    taken = 0
    while True:  # alternate, as two processes' senders would
        got = [first.take() == 0.0, second.take() == 0.0]
        taken += sum(got)
        if not any(got):
            break
    assert taken == 20
    assert granted("relay:25:a") == {int(T0): 20}
    clock.now += 1  # the next window has a budget of its own
    assert take_all(first) + take_all(second) == 20


@pytest.mark.django_db
def test_a_spent_window_makes_senders_wait_until_the_next_window_without_asking_again():
    clock, grant = Clock(T0 + 0.25), CountingGrant()
    one = limiter("relay:25:a", 100, clock=clock, grant=grant)
    assert take_all(one) == 100
    # A tenth of the budget per grant: ten full grants and the one that finds the window spent.
    assert grant.calls == 11
    assert one.take() == pytest.approx(0.75)
    assert grant.calls == 11


@pytest.mark.django_db
def test_the_hour_window_holds_across_a_worker_restart():
    clock = Clock(T0 + 600)
    before = limiter("relay:25:a", 360, seconds=3600, clock=clock, chunk=40)
    sent_before = sum(before.take() == 0.0 for _ in range(300))
    assert sent_before == 300 and granted("relay:25:a", 3600) == {int(T0): 320}
    # The worker dies holding 20 tokens; a fresh one in the same hour gets only what was never granted.
    after = limiter("relay:25:a", 360, seconds=3600, clock=clock, chunk=40)
    assert take_all(after) == 40
    clock.now += 2999
    assert after.take() == pytest.approx(1)  # the hour ends in one second: wait for it
    clock.now += 1
    assert after.take() == 0.0


@pytest.mark.django_db
def test_tokens_granted_in_a_window_are_not_used_in_the_next():
    clock = Clock(T0 + 0.95)
    one = limiter("relay:25:a", 100, clock=clock)
    assert one.take() == 0.0  # a chunk of 10 granted, 9 left in this process
    clock.now += 0.1
    assert one.take() == 0.0
    assert granted("relay:25:a") == {int(T0): 10, int(T0) + 1: 10}


# At most 54 s in all: every window the test looks at is younger than the minute limiters keep.
@given(
    steps=st.lists(st.tuples(st.integers(0, 2), st.floats(0, 0.45)), min_size=1, max_size=120),
    limit=st.integers(1, 25),
    chunks=st.lists(st.integers(1, 8), min_size=3, max_size=3),
)
@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.django_db
def test_any_interleaving_of_three_limiters_stays_within_the_limit_and_waits_only_when_the_window_is_spent(
    steps, limit, chunks
):
    key = f"relay:25:{uuid.uuid4().hex[:8]}"
    clock = Clock(T0)
    limiters = [limiter(key, limit, clock=clock, chunk=c) for c in chunks]
    taken = collections.Counter()
    for who, advance in steps:
        clock.now += advance
        window = int(clock.now)
        if limiters[who].take() == 0.0:
            taken[window] += 1
        else:
            assert granted(key).get(window) == limit, "a sender waited while the window still had tokens"
    in_db = granted(key)
    assert all(count <= limit for count in taken.values())
    assert all(taken[window] <= in_db[window] <= limit for window in taken)


@pytest.mark.django_db(transaction=True)
def test_concurrent_limiters_on_their_own_connections_never_exceed_the_limit():
    clock, barrier = Clock(T0 + 0.5), threading.Barrier(4)
    totals = []

    def worker():
        one = limiter("relay:25:a", 50, clock=clock, chunk=3)
        try:
            barrier.wait()
            totals.append(take_all(one))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(totals) == 50
    assert granted("relay:25:a") == {int(T0): 50}


@pytest.mark.skipif("connection.vendor != 'sqlite'")
@pytest.mark.django_db(transaction=True)
def test_a_locked_sqlite_database_makes_the_sender_wait_and_retry_without_crashing_or_overspending(caplog):
    # Another writer holds SQLite's write lock (not the writer-lock file, so only SQLite's own busy
    # handler waits, here for 50 ms): the grant fails with "database is locked" until it lets go.
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    stop, outcome = threading.Event(), {}

    def sender():
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA busy_timeout = 50")
            one = limiter("relay:25:a", 5, clock=Clock(T0 + 0.5))
            outcome["first"] = one.acquire(stop)
            outcome["rest"] = take_all(one)
        except Exception as exc:  # the test fails below; the thread must not die silently
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=sender)
    thread.start()
    thread.join(0.8)
    assert thread.is_alive() and "first" not in outcome, "a token was taken while the database was locked"
    holder.execute("COMMIT")
    holder.close()
    thread.join(10)
    assert outcome == {"first": True, "rest": 4}
    assert "cannot take tokens" in caplog.text
    assert granted("relay:25:a") == {int(T0): 5}


# -- transports ----------------------------------------------------------------


def test_limits_are_whole_messages_per_window_never_more_than_configured():
    assert fixed_window(20, 1) == (20, 1)
    assert fixed_window(2.5, 1) == (2, 1)
    assert fixed_window(0.5, 1) == (1, 2)
    assert fixed_window(10_000, 3600) == (10_000, 3600)


@pytest.mark.parametrize(
    "query, says",
    [
        ("per_second=nan", "must be 0 (no limit) or a positive number"),  # nan would read as "no limit"
        ("per_hour=inf", "must be 0 (no limit) or a positive number"),
        ("per_second=-5", "must be 0 (no limit) or a positive number"),
        ("per_second=0.0001", "below one an hour; use per_hour"),  # would share the hour window's row
        ("per_hour=viele", "is not a number"),
    ],
)
def test_a_rate_that_cannot_be_counted_is_refused_with_the_reason(query, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        parse_transport(f"smtp://relay.example:25?{query}")


def test_a_transport_key_names_host_port_and_account_but_never_the_password():
    one = parse_transport("smtp+starttls://newsletter:geheim@relay.example:587?per_second=50", 0)
    same_account = parse_transport("smtp+starttls://newsletter:anderes@relay.example:587?per_second=50", 3)
    other_account = parse_transport("smtp+starttls://shop:geheim@relay.example:587?per_second=50", 0)
    assert one.limit_key == same_account.limit_key != other_account.limit_key
    assert one.limit_key.startswith("relay.example:587:")
    assert "geheim" not in one.limit_key and "newsletter" not in one.limit_key
    assert len(one.limit_key) <= RateWindow._meta.get_field("key").max_length


def test_limits_wait_longest_window_first_and_an_unlimited_transport_has_none():
    def limits(url):
        transport = parse_transport(url)
        return transport_limits(transport.limit_key, transport.per_second, transport.per_hour)

    limited = limits("smtp://relay.example:25?per_second=50&per_hour=10000")
    assert [(type(limit).__name__, getattr(limit, "seconds", None)) for limit in limited] == [
        ("TokenBucket", None),
        ("SharedLimit", 3600),
        ("SharedLimit", 1),
    ]
    assert isinstance(limited[0], TokenBucket) and limited[0].rate == pytest.approx(10_000 / 3600)
    assert limits("smtp://relay.example:25") == []


@pytest.mark.django_db(transaction=True)
def test_an_unlimited_transport_sends_without_writing_a_rate_window(settings, finance):
    make_audience(finance, 20)
    scheduled_campaign([finance])
    with SmtpServer() as server:
        stats = run_worker(settings, server)
    assert stats.sent == 20
    assert RateWindow.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_stopped_worker_sends_nothing_without_a_token_and_releases_the_rows_its_senders_waited_for(settings, finance):
    make_audience(finance, 40)
    campaign = scheduled_campaign([finance])
    with SmtpServer() as server:
        settings.DELIVERY_SMTP_URLS = [f"{server.url}?per_second=3"]
        options = Options(
            until_idle=True, retry_base_seconds=0.05, recheck_seconds=0.05, idle_poll_seconds=0.05, concurrency=4
        )
        worker = build_worker("test-worker", options)

        def run():
            try:
                worker.run()
            finally:
                connection.close()  # this thread's own connection (the main loop's)

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(1.5)  # senders now wait for the next window most of the time
        worker.stop.set()
        # How fast it stops is not asserted (no timings in tests, docs/benchmarks.md); that it stops is.
        thread.join(60)
        assert not thread.is_alive(), "senders kept waiting for tokens after the worker was stopped"
        sent = len(server.messages)
    key = parse_transport(settings.DELIVERY_SMTP_URLS[0]).limit_key
    assert sent <= sum(granted(key).values()) and max(granted(key).values()) <= 3
    states = collections.Counter(Delivery.objects.filter(campaign=campaign).values_list("state", flat=True))
    assert states == {"sent": sent, "queued": 40 - sent}


# -- old windows ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_worker_keeps_only_the_last_minute_of_one_second_windows():
    clock = Clock(T0)
    one = limiter("relay:25:a", 5, clock=clock)
    for _ in range(300):  # five minutes, a token each second
        assert one.take() == 0.0
        clock.now += 1
    assert len(granted("relay:25:a")) <= 2 * 60 + 1


@pytest.mark.django_db
def test_purge_deletes_windows_that_ended_over_an_hour_ago_of_every_transport():
    now = int(T0)
    for key, seconds, start in [
        ("old:25:a", 1, now - 7200),
        ("old:25:a", 3600, now - 10800),
        ("gone:25:b", 1, now - 3700),
        ("live:25:c", 3600, now - 3600),
        ("live:25:c", 1, now),
    ]:
        windows.grant(key, seconds, start, 10, 1)
    assert windows.forget_old_windows(now=now) == 3
    assert set(RateWindow.objects.values_list("key", "window_seconds")) == {("live:25:c", 3600), ("live:25:c", 1)}
    RateWindow.objects.create(key="old:25:a", window_seconds=1, window_start=0, count=1)
    call_command("purge", stdout=open("/dev/null", "w"))
    assert not RateWindow.objects.filter(key="old:25:a").exists()


# -- real worker processes -----------------------------------------------------

# Ten seconds of sending at the limit: time enough for the second worker to start on a loaded
# machine and take part, without which the test would prove nothing about sharing.
RATE, AUDIENCE, WORKERS, CONCURRENCY = 20, 200, 2, 2


@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_together_stay_within_the_transports_per_second_limit(finance):
    make_audience(finance, AUDIENCE)
    campaign = scheduled_campaign([finance])
    with SmtpServer() as server:
        env = worker_env(server) | {"DELIVERY_SMTP_URLS": f"{server.url}?per_second={RATE}"}
        wait_all([start_worker(env, "--concurrency", str(CONCURRENCY), "--batch-size", "20") for _ in range(WORKERS)])
        began = sorted(message.at for message in server.messages)
    assert len(began) == AUDIENCE
    assert len(set(Delivery.objects.filter(campaign=campaign).values_list("worker", flat=True))) == WORKERS, (
        "one worker sent everything: the limit was not shared"
    )
    # In the database, exactly: no one-second window granted more than the limit, and every message had a token.
    per_window = granted(parse_transport(f"{server.url}?per_second={RATE}").limit_key)
    assert max(per_window.values()) <= RATE and sum(per_window.values()) >= AUDIENCE
    # At the server, with a tolerance: a sender takes its token in one window and may begin the
    # transaction (MAIL FROM, after the consent verdict) in the next, so a second can see at most one
    # extra message per sender thread. Two uncoordinated workers would each send RATE a second.
    tolerance = WORKERS * CONCURRENCY
    seconds = collections.Counter(int(at) for at in began)
    assert max(seconds.values()) <= RATE + tolerance, sorted(seconds.items())
    # And so the campaign took as long as the limit makes it: it cannot fit into fewer seconds.
    assert int(began[-1]) - int(began[0]) + 1 >= math.ceil(AUDIENCE / (RATE + tolerance))
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.FINISHED
