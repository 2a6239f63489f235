"""`rundbrief backup FILE`: a consistent copy of the SQLite database while Rundbrief runs.

Uses SQLite's online backup API (sqlite3.Connection.backup): pages are copied while
readers and the writer carry on, and the copy is one consistent snapshot — unlike
`cp`, which can catch the WAL file half-written. PostgreSQL: use `pg_dump`
(docs/operations.md).
"""

import os
import sqlite3
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection


def backup_sqlite(source: str, target: Path, pages_per_step: int = 1024) -> None:
    """Copy `source` into the new file `target` (never over an existing one), then check it."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # holds personal data: owner only
    os.close(fd)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst, pages=pages_per_step)
        dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file: no -wal beside it
        result = dst.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        dst.close()
        src.close()
    if result != "ok":
        raise CommandError(f"{target}: integrity check failed: {result}")


class Command(BaseCommand):
    help = "Write a consistent copy of the SQLite database to FILE while Rundbrief keeps running."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the new backup file (must not exist)")

    def handle(self, *args, file, **options):
        if connection.vendor != "sqlite":
            raise CommandError(
                'the database is PostgreSQL: back it up with `pg_dump --format=custom` (docs/operations.md, "Backups")'
            )
        target = Path(file)
        if target.exists():
            raise CommandError(f"{target} exists; choose a new file name")
        source = connection.settings_dict["NAME"]
        try:
            backup_sqlite(str(source), target)
        except FileExistsError:  # appeared since the check above: O_EXCL never writes over it
            raise CommandError(f"{target} exists; choose a new file name") from None
        except OSError as exc:  # no such directory, no permission, disk full: one line, not a traceback
            raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None
        self.stdout.write(f"backup: {source} → {target} ({target.stat().st_size} bytes, integrity ok)")
