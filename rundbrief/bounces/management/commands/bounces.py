"""`rundbrief bounces classify|receive|fetch|purge|review` (docs/cli.md, docs/bounces.md).

classify --json FILE…  one JSON object per file, in order, always exit 0; a file that
                       cannot be read gives {"is_bounce": false, "reason": "cannot read file"}.
receive --listen H:P   the SMTP (or --lmtp) receiver for the bounce domain, until SIGTERM/SIGINT.
fetch --imap URL       poll an IMAP mailbox once; --move-to FOLDER instead of flagging \\Seen.
purge                  delete raw bounce copies older than BOUNCE_RAW_RETENTION_DAYS.
review [--json]        addresses suppressed by a bounce whose reason is not about the address;
review --lift ADDR…    lift those suppressions (ledger event `unsuppressed`; consent untouched).
"""

import json
import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from rundbrief.bounces import actions, classify_files, queries
from rundbrief.bounces import imap as imap_module  # `imap` is the --imap option's name
from rundbrief.bounces.receiver import ReceiverController, parse_listen


class Command(BaseCommand):
    help = "Classify bounce files, receive bounces over SMTP/LMTP, poll an IMAP mailbox, purge raw copies."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        cls = sub.add_parser("classify", help="Classify RFC 822 files; one JSON object per line per file.")
        cls.add_argument("--json", action="store_true", help="JSON lines (the only format; accepted for clarity)")
        cls.add_argument("files", nargs="+", metavar="FILE")
        receive = sub.add_parser("receive", help="Run the SMTP/LMTP receiver for the VERP and unsubscribe addresses.")
        receive.add_argument("--listen", default="127.0.0.1:2525", help="HOST:PORT (default 127.0.0.1:2525)")
        receive.add_argument("--lmtp", action="store_true", help="speak LMTP (RFC 2033) instead of SMTP")
        fetch = sub.add_parser("fetch", help="Process unseen messages of an IMAP mailbox once.")
        fetch.add_argument("--imap", required=True, metavar="URL", help="imaps://user:password@host/INBOX")
        fetch.add_argument("--move-to", metavar="FOLDER", help="move processed messages here instead of flagging them")
        purge = sub.add_parser("purge", help="Delete raw bounce messages older than BOUNCE_RAW_RETENTION_DAYS.")
        purge.add_argument("--days", type=int, default=None)
        review = sub.add_parser(
            "review", help="List (or lift) suppressions made by a bounce whose reason is not about the address."
        )
        review.add_argument("--json", action="store_true", help="one JSON object per line")
        review.add_argument("--lift", nargs="+", metavar="ADDRESS", help="lift these addresses' suppressions")

    def handle(self, *args, subcommand, **options):
        getattr(self, "handle_" + subcommand)(**options)

    def handle_classify(self, files, **options):
        for path in files:
            self.stdout.write(json.dumps(classify_files.classify_file(path), ensure_ascii=False))

    def handle_receive(self, listen, lmtp, **options):
        try:
            host, port = parse_listen(listen)
        except ValueError:
            raise CommandError(f"--listen {listen!r}: expected HOST:PORT") from None
        controller = ReceiverController(host, port, lmtp=lmtp)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        controller.start()
        self.stdout.write(f"bounces: receiving {'LMTP' if lmtp else 'SMTP'} on {host}:{port}")
        self.stdout.flush()
        try:
            stop.wait()
        finally:
            controller.stop()

    def handle_fetch(self, imap: str, move_to, **options):
        try:
            target = imap_module.parse_imap_url(imap)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        try:
            report = imap_module.fetch_mailbox(target, move_to=move_to)
        except (OSError, imap_module.imaplib.IMAP4.error) as exc:
            raise CommandError(f"IMAP {target.host}: {exc}") from None
        self.stdout.write(f"bounces: fetched={report.seen} recorded={report.recorded} failed={report.failed}")

    def handle_purge(self, days, **options):
        self.stdout.write(f"bounces: raw messages deleted={actions.purge_raw_messages(days)}")

    def handle_review(self, lift, **options):
        if lift:
            lifted = [address for address in lift if actions.lift_bounce_suppression(address, actor="cli")]
            for address in sorted(set(lift) - set(lifted)):
                self.stderr.write(f"bounces: {address}: not a suppression to review, left as it is")
            self.stdout.write(f"bounces: lifted={len(lifted)} skipped={len(lift) - len(lifted)}")
            return
        for event in queries.suppressions_to_review():
            row = {
                "address": event.recipient,
                "reason": event.reason,
                "status": event.status,
                "suppressed_at": event.received_at.isoformat(),
            }
            if options["json"]:
                self.stdout.write(json.dumps(row, ensure_ascii=False))
            else:
                self.stdout.write("\t".join(row.values()))
