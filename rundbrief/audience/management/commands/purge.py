"""`rundbrief purge`: delete sign-ups not confirmed in time (GDPR Art. 5(1)(e): storage limitation).

Also drops old rate windows (rundbrief/db/windows.py): the sign-up limits' and the delivery
transports', also of transports no longer configured.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from rundbrief.audience import actions
from rundbrief.db import windows


class Command(BaseCommand):
    help = "Delete unconfirmed sign-ups older than N days, leaving an `expired` ledger event without the address."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=settings.RUNDBRIEF_UNCONFIRMED_DAYS,
            help="age in days (default RUNDBRIEF_UNCONFIRMED_DAYS)",
        )

    def handle(self, *args, days, **options):
        count = actions.purge_unconfirmed(days)
        windows.forget_old_windows()
        self.stdout.write(f"purged {count} unconfirmed sign-ups older than {days} days")
