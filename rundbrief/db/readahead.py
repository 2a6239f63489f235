"""Running a generator one step ahead in a thread: the import parses chunk N+1 while chunk N is written.

SQLite releases the GIL while it executes a statement, so on a machine with two
cores the CSV parsing and address checks (pure Python) overlap with the inserts
instead of following them. The queue holds at most `depth` items, so memory stays
bounded: the item being consumed, `depth` waiting, one being produced.
The producer must not touch the database: Django connections belong to one thread.
"""

import queue
import sys
import threading
from contextlib import contextmanager

_DONE = object()
# While the consumer waits for the GIL after a statement, the producer keeps it until the
# interpreter's switch interval is over (5 ms by default) — for every statement. 0.5 ms
# keeps that wait small next to the few milliseconds a multi-row INSERT takes.
SWITCH_INTERVAL_S = 0.0005


class _Failed:
    def __init__(self, exc):
        self.exc = exc


@contextmanager
def read_ahead(items, depth=1):
    """`with read_ahead(gen) as ahead: for item in ahead: …` — gen runs in a thread, exceptions re-raised here."""
    slots = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item):
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not hand_over(item):
                    return
            hand_over(_DONE)
        except BaseException as exc:  # noqa: BLE001 — handed to the consumer, which re-raises it
            hand_over(_Failed(exc))

    def consume():
        while (item := slots.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.exc
            yield item

    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL_S))
    thread = threading.Thread(target=produce, name="rundbrief-read-ahead", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
