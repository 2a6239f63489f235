"""On SQLite, writers queue on a kernel lock beside the database instead of polling SQLite's busy handler.

rundbrief/db/sqlite3/base.py; why: docs/decisions.md ("SQLite writers wait in the kernel").
"""

import sqlite3
import subprocess
import sys
import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from rundbrief.db.sqlite3.base import LOCK_SUFFIX, WriterLock
from rundbrief.newsroom.models import Topic

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend's writer lock")

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()  # until the test lets go
"""


class OtherProcess:
    """Another process (another gunicorn worker, say) holding the writer lock until released."""

    def __init__(self, path):
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout.readline().strip() == "held"

    def release(self):
        if self.process.poll() is None:
            self.process.stdin.write("\n")
            self.process.stdin.flush()
            self.process.wait(10)


@pytest.fixture
def other_process():
    holders = []
    yield lambda path: holders.append(OtherProcess(path)) or holders[-1]
    for holder in holders:
        holder.release()


def test_a_waiting_writer_gives_up_after_the_timeout_and_the_lock_stays_usable(tmp_path, other_process):
    path = tmp_path / "db.sqlite3-lock"
    holder = other_process(path)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        WriterLock().acquire(str(path), timeout=0.2)
    holder.release()
    # The abandoned wait let go of the lock once it got it: the next writer is not blocked by it.
    lock = WriterLock()
    lock.acquire(str(path), timeout=5)
    lock.release()
    other_process(path).release()


def test_a_waiting_writer_proceeds_as_soon_as_the_other_process_lets_go(tmp_path, other_process):
    path = tmp_path / "db.sqlite3-lock"
    holder = other_process(path)
    lock, acquired = WriterLock(), threading.Event()

    def writer():
        lock.acquire(str(path), timeout=30)
        acquired.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert not acquired.wait(0.3)  # still held by the other process
    holder.release()
    thread.join(30)
    assert acquired.is_set()
    lock.release()


@pytest.mark.django_db(transaction=True)
def test_a_transaction_takes_the_writer_lock_beside_the_database_and_releases_it_on_commit_and_rollback(
    other_process, settings
):
    path = str(connection.settings_dict["NAME"]) + LOCK_SUFFIX
    with transaction.atomic():
        Topic.objects.create(name="Gold", slug="gold")
        # Held by this connection now: another process cannot take it.
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR);"
                "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)",
                path,
            ],
            capture_output=True,
        )
        assert b"BlockingIOError" in probe.stderr
    with pytest.raises(ValueError), transaction.atomic():
        Topic.objects.create(name="Silber", slug="silber")
        raise ValueError
    holder = other_process(path)  # would block forever if commit or rollback had kept the lock
    options = connection.settings_dict["OPTIONS"]
    timeout = options["timeout"]
    options["timeout"] = 0.2
    try:
        with pytest.raises(OperationalError, match="database is locked"), transaction.atomic():
            Topic.objects.create(name="Platin", slug="platin")
    finally:
        options["timeout"] = timeout
    holder.release()
    assert list(Topic.objects.values_list("slug", flat=True)) == ["gold"]
    connections.close_all()
