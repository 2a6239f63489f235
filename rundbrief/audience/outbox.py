"""Service mail leaves after the response: the sign-up must not reveal by its timing who is new.

A new address gets a double-opt-in mail, a confirmed or suppressed one does not
(same status, body and — within noise — timing for every address: docs/decisions.md, "Sign-up outcomes look alike"). So
the SMTP conversation happens on a mail thread after the transaction has
committed, never inside the request. RUNDBRIEF_SERVICE_MAIL_ASYNC=0 sends inline
(the test suite does, to read the mail right after the request).

The thread takes whatever has queued up as one batch, and the batch's mails go
out over one SMTP connection. It carries the export-link mails and, with
RUNDBRIEF_SIGNUP_PROCESSING=web, the sign-up intake's drain, which records its
own mails (rundbrief/audience/intake.py).
"""

import atexit
import logging
import queue
import threading

from django.conf import settings
from django.db import connection

from rundbrief.outbound.smtp import SmtpConnection
from rundbrief.outbound.transport import service_transport

log = logging.getLogger(__name__)
MAX_BATCH = 100  # mails per SMTP connection, at most
_queue = None
_thread = None
_start_lock = threading.Lock()
_batch = threading.local()


def submit(function, *args):
    """Run function(*args) now (inline) or soon on the mail thread, depending on the setting."""
    if not settings.RUNDBRIEF_SERVICE_MAIL_ASYNC:
        _run_batch([(function, args)])
        return
    _ensure_thread()
    _queue.put((function, args))


def smtp_connection():
    """The SMTP connection of the batch being sent on this thread, or None outside a batch."""
    return getattr(_batch, "smtp", None)


def wait_until_sent():
    """Wait until every queued service mail has been handled (tests, and shutdown paths)."""
    if _queue is not None:
        _queue.join()


def _ensure_thread():
    global _queue, _thread
    with _start_lock:
        if _thread is None or not _thread.is_alive():
            _queue = _queue or queue.Queue()
            _thread = threading.Thread(target=_work, name="service-mail", daemon=True)
            _thread.start()
            atexit.register(wait_until_sent)  # a clean exit still sends what is queued


def _work():
    while True:
        jobs = [_queue.get()]
        while len(jobs) < MAX_BATCH:
            try:
                jobs.append(_queue.get_nowait())
            except queue.Empty:
                break
        try:
            _run_batch(jobs)
        finally:
            for _ in jobs:
                _queue.task_done()


def _run_batch(jobs):
    _batch.smtp = SmtpConnection(service_transport())  # connects with the first mail, closed below
    try:
        for function, args in jobs:
            try:
                function(*args)
            except Exception:
                log.exception("service mail failed")
        _batch.smtp.close()  # QUIT, or just drop it: the mails were accepted before
    finally:
        _batch.smtp = None
        # This thread's own database connection: kept while more work waits (CONN_MAX_AGE), closed
        # if it broke or grew too old, as Django does after each request, and closed when the queue
        # is empty: an idle mail thread in every web worker need not hold a PostgreSQL connection.
        if threading.current_thread() is _thread:
            if _queue.empty():
                connection.close()
            else:
                connection.close_if_unusable_or_obsolete()
