"""`rundbrief consent verify` and `rundbrief consent proof ADDRESS` (docs/cli.md)."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from rundbrief.audience.ledger import verify_chain
from rundbrief.audience.proof import proof_for_address


class Command(BaseCommand):
    help = "Check the consent ledger's hash chain, or print the proof of consent for one address."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        sub.add_parser("verify", help="Recompute the hash chain; exit 1 naming the first broken event.")
        proof = sub.add_parser("proof", help="The whole consent history of one address as JSON.")
        proof.add_argument("address")

    def handle(self, *args, subcommand, **options):
        if subcommand == "verify":
            report = verify_chain()
            if report.intact:
                self.stdout.write(f"chain intact: {report.count} events")
                return
            raise CommandError(f"chain broken at event {report.broken_event_id}: {report.reason}", returncode=1)
        try:
            proof = proof_for_address(options["address"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(json.dumps(proof, indent=2, ensure_ascii=False))
