"""`rundbrief retention`: apply the storage limits now (GDPR Art. 5(1)(e)); the worker also runs it daily."""

from django.core.management.base import BaseCommand

from rundbrief.ops.retention import apply_retention


class Command(BaseCommand):
    help = (
        "Reduce old delivery rows to per-campaign aggregates, delete old consent evidence (IP, user agent) "
        "no longer relied on, delete old raw bounce messages (RETENTION_* settings)."
    )

    def handle(self, *args, **options):
        self.stdout.write(str(apply_retention()))
