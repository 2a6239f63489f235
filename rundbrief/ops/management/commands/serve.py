"""`rundbrief serve`: the embedded set-up that `make run` starts.

Starts the devmail SMTP capture (unless SMTP_URL sends mail elsewhere) and
Django's development server, and prints where everything is.
"""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from rundbrief.devmail.capture import start_capture


class Command(BaseCommand):
    help = "Serve the site on 127.0.0.1:PORT with the embedded SMTP capture (for trying Rundbrief out)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, port, host, **options):
        capture = None
        if not settings.SMTP_URL:
            try:
                capture = start_capture(settings.EMAIL_HOST, settings.EMAIL_PORT, settings.DEVMAIL_DIR)
            except OSError as exc:
                raise CommandError(
                    f"cannot start the SMTP capture on {settings.EMAIL_HOST}:{settings.EMAIL_PORT} ({exc}); "
                    "stop what uses that port or set SMTP_URL"
                ) from exc
        base = f"http://{host}:{port}"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Rundbrief is running: {base}/"))
        self.stdout.write(f"  admin:   {base}/admin/")
        if capture:
            where = f"{base}/dev/outbox/" if settings.DEVMAIL_ENABLED else str(settings.DEVMAIL_DIR)
            self.stdout.write(f"  mail:    captured on {settings.EMAIL_HOST}:{settings.EMAIL_PORT}, shown at {where}")
        else:
            self.stdout.write(f"  mail:    sent via {settings.EMAIL_HOST}:{settings.EMAIL_PORT} (SMTP_URL)")
        self.stdout.write("  stop with Ctrl-C\n")
        try:
            call_command("runserver", f"{host}:{port}", use_reloader=False, use_threading=True)
        finally:
            if capture:
                capture.stop()
