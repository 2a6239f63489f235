"""Service mail leaves after the response: the sign-up must not reveal by its timing who is new.

A new address gets a double-opt-in mail, a confirmed or suppressed one does not
(issue 3: same status, body and — within noise — timing for every address). So
the SMTP conversation happens on a small thread pool after the transaction has
committed, never inside the request. RUNDBRIEF_SERVICE_MAIL_ASYNC=0 sends inline
(the test suite does, to read the mail right after the request).
"""

import atexit
import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection

log = logging.getLogger(__name__)
_pool = None


def _run(function, args):
    try:
        function(*args)
    except Exception:
        log.exception("service mail failed")
    finally:
        connection.close()  # this thread's own database connection


def submit(function, *args):
    """Run function(*args) now (inline) or soon on the mail threads, depending on the setting."""
    global _pool
    if not settings.RUNDBRIEF_SERVICE_MAIL_ASYNC:
        function(*args)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="service-mail")
        atexit.register(_pool.shutdown, wait=True)  # a clean exit still sends what is queued
    _pool.submit(_run, function, args)


def drain():
    """Wait until every queued service mail has been handled (tests, and shutdown paths)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None
