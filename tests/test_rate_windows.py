"""Every rate limit counts in one store of fixed windows (rundbrief/db/windows.py), and one purge forgets them.

The sign-up limits (audience/ratelimit.py) count requests; the transports' global limits
(delivery/ratelimit.py) take tokens in chunks. Both are rows of rundbrief_db.RateWindow.
"""

import threading
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from rundbrief.audience import ratelimit
from rundbrief.db import windows
from rundbrief.db.models import RateWindow
from rundbrief.delivery.ratelimit import SharedLimit

TRANSPORT = "relay.example:587:0123456789abcdef"


def rows():
    return {
        (key, seconds): count
        for key, seconds, count in RateWindow.objects.values_list("key", "window_seconds", "count")
    }


@pytest.mark.django_db
def test_sign_up_counts_and_transport_grants_are_rows_of_one_table_and_one_cleanup_forgets_both(
    settings, one_rate_window
):
    settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE = 2
    now = one_rate_window.timestamp()
    assert [ratelimit.signup_allowed("203.0.113.9") for _ in range(3)] == [True, True, False]
    transport = SharedLimit(TRANSPORT, 5, 1, windows.grant, chunk=5, clock=lambda: now)
    assert transport.take() == 0.0
    assert rows() == {
        (ratelimit.ip_key("203.0.113.9"), 60): 3,  # the refused request counts too
        ("signup:global", 60): 2,  # but not against the global breaker
        (TRANSPORT, 1): 5,
    }
    assert windows.forget_old_windows(now=now + 600) == 0  # none ended an hour ago yet
    assert windows.forget_old_windows(now=now + 3700) == 3
    assert rows() == {}


@pytest.mark.django_db
def test_the_purge_command_forgets_old_sign_up_and_transport_windows_alike():
    windows.count("ip:old", 60, now=0)
    windows.grant("old:25:a", 3600, 0, 10, 4)
    windows.count("ip:now", 60)
    call_command("purge", stdout=open("/dev/null", "w"))
    assert set(rows()) == {("ip:now", 60)}


@pytest.mark.django_db
def test_a_count_and_a_grant_under_one_key_keep_to_their_own_window_lengths():
    assert [windows.count("k", 60, now=120.5) for _ in range(3)] == [1, 2, 3]
    assert windows.grant("k", 1, 120, 10, 4) == 4
    assert rows() == {("k", 60): 3, ("k", 1): 4}


@pytest.mark.django_db(transaction=True)
def test_concurrent_counts_on_their_own_connections_each_see_a_count_of_their_own():
    """Atomic across connections: no two requests are told the same count, none is lost."""
    barrier, seen = threading.Barrier(4), []

    def requests():
        try:
            barrier.wait()
            seen.extend(windows.count("signup:global", 60, now=1_800_000_030) for _ in range(25))
        finally:
            connection.close()

    threads = [threading.Thread(target=requests) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(seen) == list(range(1, 101))
    assert rows() == {("signup:global", 60): 100}


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_copies_the_windows_of_the_two_old_tables_into_the_one_store():
    """No limit starts afresh at the upgrade: the hour's grants and the minute's sign-ups are kept."""
    before = [("audience", "0005_consentevent_hash_not_unique"), ("delivery", "0003_rate_windows")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    old.get_model("audience", "RateCounter").objects.create(
        key="ip:abc", window_start=datetime(2027, 1, 15, 10, 31, tzinfo=UTC), count=4
    )
    old.get_model("delivery", "RateWindow").objects.create(
        transport=TRANSPORT, window_seconds=3600, window_start=1_800_000_000, granted=280, last_grant=28
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert rows() == {("ip:abc", 60): 4, (TRANSPORT, 3600): 280}
    assert RateWindow.objects.get(key="ip:abc").window_start == 1_800_009_060  # 10:31 UTC, in Unix time
    assert windows.grant(TRANSPORT, 3600, 1_800_000_000, 300, 28) == 20  # the rest of the hour, no more
