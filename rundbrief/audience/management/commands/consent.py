"""`rundbrief consent verify|anchor|proof` (docs/cli.md)."""

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from rundbrief.audience import anchor
from rundbrief.audience.ledger import consent_text_problems, verify_chain
from rundbrief.audience.proof import proof_for_address


class Command(BaseCommand):
    help = "Check the consent ledger (hash chain, consent texts, last anchor), anchor its head, or print a proof."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        verify = sub.add_parser(
            "verify",
            help="Recompute the hash chain and the consent texts' hashes, compare with the last anchor; "
            "exit 1 naming the first problem.",
        )
        verify.add_argument("--anchor", dest="anchor_file", help="anchor file (default RUNDBRIEF_LEDGER_ANCHOR_FILE)")
        write = sub.add_parser(
            "anchor", help="Print the ledger's head (count, id, hash, time) and append it to a file."
        )
        write.add_argument("--file", help="where to append (default RUNDBRIEF_LEDGER_ANCHOR_FILE; none: print only)")
        proof = sub.add_parser("proof", help="The whole consent history of one address as JSON.")
        proof.add_argument("address")

    def handle(self, *args, subcommand, **options):
        getattr(self, f"handle_{subcommand}")(**options)

    def handle_verify(self, *, anchor_file=None, **options):
        report = verify_chain()
        if not report.intact:
            raise CommandError(f"chain broken at event {report.broken_event_id}: {report.reason}", returncode=1)
        for problem in consent_text_problems():
            raise CommandError(problem, returncode=1)
        path = anchor_file or settings.RUNDBRIEF_LEDGER_ANCHOR_FILE
        last = read_last_anchor(path)
        if last is not None and (problem := anchor.check_against(last)):
            raise CommandError(problem, returncode=1)
        checked = f"; matches the anchor of {last.at}" if last is not None else ""
        self.stdout.write(f"chain intact: {report.count} events{checked}")

    def handle_anchor(self, *, file=None, **options):
        path = file or settings.RUNDBRIEF_LEDGER_ANCHOR_FILE
        try:
            head = anchor.write_anchor(path) if path else anchor.current_anchor()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}", returncode=1) from None
        self.stdout.write(json.dumps(vars(head)))

    def handle_proof(self, *, address, **options):
        try:
            proof = proof_for_address(address)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(json.dumps(proof, indent=2, ensure_ascii=False))


def read_last_anchor(path):
    if not path:
        return None
    try:
        return anchor.last_anchor(path)
    except (OSError, ValueError, TypeError) as exc:
        raise CommandError(f"{path}: not a readable anchor file ({exc})", returncode=1) from None
