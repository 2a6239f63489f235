"""Shared helpers for the benchmarks: a throw-away database, smtp-sink, medians."""

import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.ports import free_port  # one helper for tests and benchmarks (standard library only)

ROOT = Path(__file__).resolve().parent.parent


def temp_sqlite_url():
    folder = Path(tempfile.mkdtemp(prefix="rundbrief-bench-"))
    return f"sqlite:///{folder / 'bench.sqlite3'}", folder


class SmtpSink:
    """Postfix's smtp-sink (Debian package postfix): a C SMTP sink that is never the bottleneck."""

    def __init__(self, port=None, backlog=1000):
        self.port = port or free_port()
        self.backlog = backlog
        self.process = None

    def __enter__(self):
        binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen([binary, *user, f"127.0.0.1:{self.port}", str(self.backlog)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start (apt-get install postfix)")

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(10)


def median(values):
    return statistics.median(values)
