"""`rundbrief import-subscribers [--format TOOL] [--topics SLUG,…] [--consent-basis TEXT] FILE…` (docs/cli.md)."""

from django.core.management.base import BaseCommand, CommandError

from rundbrief.audience.import_formats import FORMATS
from rundbrief.audience.importer import CHUNK_ROWS, ImportFileError, import_files


class Command(BaseCommand):
    help = (
        "Import subscribers from CSV files: Rundbrief's own format (columns email, topics, consented_at, "
        "confirmed_at, source, ip, consent_text_version; only email required) or another tool's export "
        "(--format; docs/integrations.md). Delimiter (comma, semicolon, tab) and encoding (UTF-8, Windows-1252) "
        "are detected. Rows need a consent time unless --consent-basis is given. Rows with a confirmation time "
        "become confirmed subscribers with an `imported` ledger event, the others pending; members the file "
        "lists as unsubscribed or bounced go to the suppression list. Suppressed addresses are skipped, known "
        "addresses left as they are, invalid rows written to a rejects CSV. A file that cannot be read stops "
        "the call before anything is imported. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", nargs="+", help="one or more CSV files, imported in this order")
        parser.add_argument(
            "--format",
            choices=list(FORMATS),
            default="rundbrief",
            help="whose export the files are (default: rundbrief)",
        )
        parser.add_argument(
            "--topics",
            metavar="SLUG,…",
            default="",
            help="topics for rows that name none (default: every topic, as the sign-up form's consent)",
        )
        parser.add_argument(
            "--consent-basis",
            metavar="TEXT",
            default="",
            help="where consent was obtained, for rows without a consent time (else they are rejected); "
            "logged and written into each such row's ledger event",
        )
        parser.add_argument(
            "--send-confirmation",
            action="store_true",
            help="mail the double-opt-in request to rows without a confirmation time",
        )
        parser.add_argument(
            "--rejects", metavar="FILE", help="where invalid rows go (default: FILE.rejects.csv; one file only)"
        )
        parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="rows per transaction")

    def handle(self, *args, file, format, topics, consent_basis, send_confirmation, rejects, chunk_rows, **options):
        run = lambda progress=None: import_files(  # noqa: E731
            file,
            format_name=format,
            topics=[slug.strip() for slug in topics.split(",") if slug.strip()],
            consent_basis=consent_basis,
            send_confirmation=send_confirmation,
            rejects_path=rejects,
            chunk_rows=max(1, chunk_rows),
            progress=progress,
        )
        try:
            if self.stdout.isatty():  # a bar only for a person watching; logs get the summary line
                summaries = self._with_progress_bar(run)
            else:
                summaries = run()
        except ImportFileError as exc:
            raise CommandError(str(exc), returncode=1) from None
        for path, summary in zip(file, summaries, strict=True):
            self.stdout.write(summary.line() if len(file) == 1 else f"{path}: {summary.line()}")

    def _with_progress_bar(self, run):
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        console = Console(file=self.stdout._out)
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("importing", total=None)
            return run(lambda done, total: bar.update(task, completed=done, total=total))
