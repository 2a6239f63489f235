"""`rundbrief serve`: the embedded set-up that `make run` starts.

Starts the devmail SMTP capture (unless SMTP_URL sends mail elsewhere) and
Django's development server, and prints where everything is.
"""

import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from rundbrief.audience import intake
from rundbrief.delivery.engine import Options
from rundbrief.devmail.capture import start_capture
from rundbrief.ops.worker import build_worker


def start_worker():
    """One delivery worker thread, so campaigns scheduled in the admin go out under `make run`."""
    options = Options(concurrency=2, lease_seconds=settings.DELIVERY_LEASE_SECONDS)
    worker = build_worker("serve", options)
    threading.Thread(target=worker.run, name="delivery-worker", daemon=True).start()
    intake.Drainer(worker.stop).start()  # and the sign-ups' confirmation requests, as `deliver` does
    return worker


class Command(BaseCommand):
    help = "Serve the site on 127.0.0.1:PORT with the embedded SMTP capture (for trying Rundbrief out)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--no-worker", action="store_true", help="do not run a delivery worker in this process")

    def handle(self, *args, port, host, no_worker, **options):
        capture = None
        if not settings.SMTP_URL:
            try:
                capture = start_capture(settings.EMAIL_HOST, settings.EMAIL_PORT, settings.DEVMAIL_DIR)
            except OSError as exc:
                raise CommandError(
                    f"cannot start the SMTP capture on {settings.EMAIL_HOST}:{settings.EMAIL_PORT} ({exc}); "
                    "stop what uses that port or set SMTP_URL"
                ) from exc
        worker = None if no_worker else start_worker()
        base = f"http://{host}:{port}"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Rundbrief is running: {base}/"))
        self.stdout.write(f"  admin:   {base}/admin/")
        if capture:
            where = f"{base}/dev/outbox/" if settings.DEVMAIL_ENABLED else str(settings.DEVMAIL_DIR)
            self.stdout.write(f"  mail:    captured on {settings.EMAIL_HOST}:{settings.EMAIL_PORT}, shown at {where}")
        else:
            self.stdout.write(f"  mail:    sent via {settings.EMAIL_HOST}:{settings.EMAIL_PORT} (SMTP_URL)")
        if worker:
            self.stdout.write("  campaigns: a delivery worker runs in this process (scheduled campaigns go out)")
        self.stdout.write("  stop with Ctrl-C\n")
        try:
            call_command("runserver", f"{host}:{port}", use_reloader=False, use_threading=True)
        finally:
            if worker:
                worker.stop.set()
            if capture:
                capture.stop()
