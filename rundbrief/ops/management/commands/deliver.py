"""`rundbrief deliver`: the delivery worker.

Run as many as you like, on as many hosts as share the database: each claims its
own batches. `--until-idle` exits 0 when no campaign has work left (it waits for
retries and for the leases of dead workers). SIGTERM or SIGINT: finish the SMTP
transactions in flight, record them, release the rest, exit 0.

In ops, not in delivery: the command wires the engine to what sits above delivery — bounce
handling of SMTP rejections, the daily housekeeping (ops/worker.py) — and drains the sign-up intake.
"""

import os
import signal
import socket
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from rundbrief.audience import intake
from rundbrief.delivery.engine import Options
from rundbrief.delivery.ratelimit import DomainBuckets
from rundbrief.ops.worker import build_worker


class ProgressReporter:
    """A rich progress bar on a terminal; otherwise one log line every LOG_EVERY seconds."""

    LOG_EVERY = 5.0

    def __init__(self, stdout, tty):
        self.stdout = stdout
        self.counts = {}
        self.started = self.last_line = time.monotonic()
        self.progress = None
        if tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("delivering"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
            )
            self.task = self.progress.add_task("deliver", total=None, detail="")
            self.progress.start()

    def __call__(self, outcome):
        self.counts[outcome.state] = self.counts.get(outcome.state, 0) + 1
        now = time.monotonic()
        rate = self.counts.get("sent", 0) / max(0.001, now - self.started)
        detail = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) + f" {rate:.0f}/s"
        if self.progress is not None:
            self.progress.update(self.task, completed=sum(self.counts.values()), detail=detail)
        elif now - self.last_line >= self.LOG_EVERY:
            self.stdout.write(f"deliver: {detail}")
            self.last_line = now

    def close(self):
        if self.progress is not None:
            self.progress.stop()


class Command(BaseCommand):
    help = "Send due campaigns: claim batches, check consent at send time, sign, send over SMTP, record."

    def add_arguments(self, parser):
        parser.add_argument("--until-idle", action="store_true", help="exit 0 when no campaign has work left")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=settings.DELIVERY_CONCURRENCY,
            help="SMTP connections (sender threads) in this process",
        )
        parser.add_argument("--batch-size", type=int, default=settings.DELIVERY_BATCH_SIZE)
        parser.add_argument("--worker-id", default="")

    def handle(self, *args, until_idle, concurrency, batch_size, worker_id, **options):
        worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        opts = Options(
            batch_size=max(1, batch_size),
            concurrency=max(1, concurrency),
            lease_seconds=settings.DELIVERY_LEASE_SECONDS,
            max_attempts=settings.DELIVERY_MAX_ATTEMPTS,
            retry_base_seconds=settings.DELIVERY_RETRY_BASE_SECONDS,
            duplicate_bound=settings.DELIVERY_DUPLICATE_BOUND,
            pause_after_failures=settings.DELIVERY_PAUSE_AFTER_FAILURES,
            recheck_seconds=settings.DELIVERY_CONSENT_RECHECK_SECONDS,
            until_idle=until_idle,
        )
        buckets = (
            DomainBuckets(settings.DELIVERY_PER_DOMAIN_PER_SECOND) if settings.DELIVERY_PER_DOMAIN_PER_SECOND else None
        )
        reporter = ProgressReporter(self.stdout, tty=self.stdout.isatty())
        worker = build_worker(worker_id, opts, domain_buckets=buckets, progress=reporter)

        def stop(signum, frame):
            worker.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"deliver: worker {worker_id} with {len(worker.lanes)} connection(s)")
        signups = None
        if not until_idle:  # a long-running worker also sends the sign-ups' confirmation requests
            signups = intake.Drainer(worker.stop)
            signups.start()
        try:
            stats = worker.run()
        finally:
            reporter.close()
            if signups is not None:
                signups.join(30)
        if until_idle:  # a worker run from cron sends the sign-ups' mails too, once its campaigns are done
            intake.drain()
        self.stdout.write(
            f"deliver: sent={stats.sent} failed={stats.failed} retried={stats.retried} skipped={stats.skipped}"
        )
