"""Django's SQLite backend with writers that queue in the kernel instead of polling.

With `transaction_mode: IMMEDIATE` every transaction starts by taking SQLite's
write lock. A writer that finds it taken is parked by SQLite's busy handler,
which sleeps 1, 2, 5, 10, … 100 ms between tries without knowing when the lock
is released. Under load (two gunicorn workers, the mail threads) the lock is
then free most of the time while every waiter sleeps: a sign-up waited up to a
second for a transaction of about a millisecond (docs/benchmarks.md, sign-up).

So before BEGIN IMMEDIATE a connection takes an exclusive flock(2) on a file
beside the database (`<database>-lock`) and keeps it until COMMIT or ROLLBACK.
A waiter blocks in the kernel and is woken the moment the holder lets go. The
lock is the same scope as SQLite's own write lock (one database file, every
process and thread on this host) and is dropped by the kernel when a process
dies. SQLite's own locking is unchanged; writes outside a transaction
(autocommit) still rely on it alone.

A separate file, never the database or its -shm: closing any descriptor of a
file drops all of the process's POSIX locks on it, SQLite's included.
"""

import fcntl
import os
import threading

from django.db.backends.sqlite3 import base

LOCK_SUFFIX = "-lock"


class WriterLock:
    """An exclusive flock on a file, held by one connection from BEGIN to COMMIT/ROLLBACK."""

    def __init__(self):
        self.fd = None

    def acquire(self, path, timeout):
        self.release()  # never wait for ourselves, should a COMMIT have been missed
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not _wait_for_lock(fd, timeout):  # fd now belongs to the helper thread: not closed here
                raise base.Database.OperationalError("database is locked") from None
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd

    def release(self):
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)  # closing the only descriptor drops the flock


def _wait_for_lock(fd, timeout):
    """Block in flock(2) on a helper thread, so the wait can end after `timeout` seconds.

    The helper owns `fd` if we give up: it then closes it as soon as it gets the lock.
    """
    got = threading.Event()
    guard = threading.Lock()
    state = {"abandoned": False}

    def wait():
        fcntl.flock(fd, fcntl.LOCK_EX)
        with guard:
            if state["abandoned"]:
                os.close(fd)
                return
            got.set()

    threading.Thread(target=wait, name="sqlite-writer-lock", daemon=True).start()
    if got.wait(timeout):
        return True
    with guard:
        if got.is_set():
            return True
        state["abandoned"] = True
    return False


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.writer_lock = WriterLock()

    def get_new_connection(self, conn_params):
        # The database holds addresses and consent evidence: owner only. SQLite would create it with
        # the umask's mode (0644 by default); its -wal and -shm files copy the database's mode.
        name = str(conn_params.get("database", ""))
        if name and not self.is_in_memory_db() and not name.startswith("file:"):
            try:
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            except FileExistsError:
                pass  # an existing database keeps the mode its operator gave it
            except OSError:
                pass  # no such folder, no permission: SQLite's own error says it better
        return super().get_new_connection(conn_params)

    def _start_transaction_under_autocommit(self):
        if self.transaction_mode not in ("IMMEDIATE", "EXCLUSIVE") or self.is_in_memory_db():
            return super()._start_transaction_under_autocommit()
        # NAME is read now, not at start-up: the test runner points it at the test database later.
        path = str(self.settings_dict["NAME"]) + LOCK_SUFFIX
        # The same patience as SQLite's busy handler (OPTIONS["timeout"], Python's default 5 s).
        with self.wrap_database_errors:  # django.db.OperationalError, as from SQLite's own timeout
            self.writer_lock.acquire(path, self.settings_dict["OPTIONS"].get("timeout", 5.0))
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self.writer_lock.release()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self.writer_lock.release()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self.writer_lock.release()

    def _close(self):
        try:
            return super()._close()
        finally:
            self.writer_lock.release()
