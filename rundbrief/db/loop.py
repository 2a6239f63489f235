"""DatabaseLoop: the base class of background threads that do database work in a loop until stopped.

Used by the sign-up intake's drain thread (audience/intake.py, `Drainer`) and the delivery engine's
consent guard (delivery/guard.py). A subclass implements `step()`; the loop owns what every such
thread needs and each used to write for itself:

- the stop event: set it and the thread ends after the current step (waits end at once);
- errors: a step that raises is logged and the loop goes on — a background thread must not die
  silently while the process around it keeps running; while the database is unavailable
  (OperationalError, InterfaceError: restarted, unreachable) it backs off, `retry_first` doubling
  up to `retry_max`, with one warning line each time instead of a traceback;
- the database connection: Django keeps one per thread, so the thread closes its own when it ends
  (an open one holds a PostgreSQL backend, or an SQLite file, until the process exits), and drops it
  after an error so that the next step reconnects.
"""

import logging
import threading

from django.db import InterfaceError, OperationalError, connection


class DatabaseLoop(threading.Thread):
    """Calls `step()` until `stop` is set, waiting as long as each step asks between steps."""

    thread_name = "database-loop"
    log = logging.getLogger("rundbrief")
    failure_message = "background work failed"  # logged with the traceback of an unexpected error
    unavailable = (OperationalError, InterfaceError)
    retry_first, retry_max = 0.5, 10.0  # seconds between tries while the database is unavailable

    def __init__(self, stop: threading.Event | None = None, *, name: str | None = None):
        super().__init__(name=name or self.thread_name, daemon=True)
        self.stop = stop if stop is not None else threading.Event()

    # -- what a subclass provides ---------------------------------------------------------------
    def step(self) -> float:
        """One round of work; returns the seconds to wait before the next (0: at once)."""
        raise NotImplementedError

    def failure_wait(self) -> float:
        """Seconds to wait after an unexpected error."""
        return self.retry_first

    def recover(self):
        """After an error: drop this thread's connection; the next query opens a fresh one."""
        connection.close()

    def finish(self):
        """When the loop ends, before the connection is closed: let go of what the steps held."""

    def close_connection(self):
        connection.close()

    # -- the loop ---------------------------------------------------------------------------------
    def run(self):
        retry_wait = self.retry_first
        try:
            while not self.stop.is_set():
                try:
                    wait = self.step()
                    retry_wait = self.retry_first
                except self.unavailable as exc:
                    self.log.warning("%s: database unavailable (%s); retrying in %.1f s", self.name, exc, retry_wait)
                    self.recover()
                    wait, retry_wait = retry_wait, min(retry_wait * 2, self.retry_max)
                except Exception:  # a bug or a hiccup must not end the thread: log it, try again
                    self.log.exception(self.failure_message)
                    self.recover()
                    wait = self.failure_wait()
                if wait > 0:
                    self.stop.wait(wait)
        finally:
            try:
                self.finish()
            finally:
                self.close_connection()
