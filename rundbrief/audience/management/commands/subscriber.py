"""`rundbrief subscriber export ADDRESS` and `rundbrief subscriber erase ADDRESS` (GDPR Art. 15, 17, 20)."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from rundbrief.audience import actions, queries
from rundbrief.audience.addresses import normalise_address
from rundbrief.audience.models import Subscriber


class Command(BaseCommand):
    help = "Export or erase the data kept about one subscriber."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        sub.add_parser("export", help="Print profile, topics and consent history as JSON.").add_argument("address")
        sub.add_parser(
            "erase", help="Erase the personal data; keep the address hashed on the suppression list."
        ).add_argument("address")

    def handle(self, *args, subcommand, address, **options):
        try:
            normalised = normalise_address(address)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        subscriber = Subscriber.objects.filter(email=normalised).first()
        if subscriber is None:
            raise CommandError("no subscriber with this address")
        if subcommand == "export":
            self.stdout.write(json.dumps(queries.export_subscriber(subscriber), indent=2, ensure_ascii=False))
        else:
            try:
                subject = actions.erase_subscriber(subscriber, source="cli:subscriber-erase")
            except actions.ErasureNotFlushed as exc:
                raise CommandError(str(exc), returncode=1) from None
            self.stdout.write(f"erased; suppressed as {subject}")
