"""`rundbrief import-subscribers FILE.csv [--send-confirmation] [--rejects FILE]` (docs/cli.md)."""

from django.core.management.base import BaseCommand, CommandError

from rundbrief.audience.importer import CHUNK_ROWS, ImportFileError, import_subscribers


class Command(BaseCommand):
    help = (
        "Import subscribers from a CSV file with the columns email, topics, consented_at, confirmed_at, "
        "source, ip, consent_text_version (only email required). Rows with confirmed_at become confirmed "
        "subscribers with an `imported` ledger event; the others pending. Suppressed addresses are skipped, "
        "known addresses left as they are, invalid rows written to a rejects CSV. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE.csv")
        parser.add_argument(
            "--send-confirmation",
            action="store_true",
            help="mail the double-opt-in request to rows without confirmed_at",
        )
        parser.add_argument("--rejects", metavar="FILE", help="where invalid rows go (default: FILE.rejects.csv)")
        parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="rows per transaction")

    def handle(self, *args, file, send_confirmation, rejects, chunk_rows, **options):
        run = lambda progress=None: import_subscribers(  # noqa: E731
            file,
            send_confirmation=send_confirmation,
            rejects_path=rejects,
            chunk_rows=max(1, chunk_rows),
            progress=progress,
        )
        try:
            if self.stdout.isatty():  # a bar only for a person watching; logs get the summary line
                summary = self._with_progress_bar(run)
            else:
                summary = run()
        except ImportFileError as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(summary.line())

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
