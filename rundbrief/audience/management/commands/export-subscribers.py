"""`rundbrief export-subscribers FILE.csv [--status active|confirmed|pending|withdrawn|blocked] [--topic SLUG]` (docs/cli.md)."""

import getpass
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rundbrief.audience import listexport
from rundbrief.newsroom.models import Topic


class Command(BaseCommand):
    help = (
        "Export the subscriber list as CSV in the format import-subscribers reads, with each person's consent "
        "evidence (time, source, truncated IP, consent text version). Default: confirmed and pending. "
        "--status withdrawn or blocked writes a list without an `email` column, which the importer refuses. "
        "FILE must not exist; `-` writes to standard output."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE.csv")
        parser.add_argument(
            "--status",
            choices=list(listexport.STATUSES),
            default="active",
            help="active (confirmed and pending, the default), confirmed, pending, withdrawn, or blocked "
            "(withdrawn and suppressed: everyone another system must not mail)",
        )
        parser.add_argument("--topic", metavar="SLUG", help="only subscribers of this topic")

    def handle(self, *args, file, status, topic, **options):
        if topic and not Topic.objects.filter(slug=topic).exists():
            raise CommandError(f"unknown topic {topic!r}", returncode=1)
        if file != "-":
            _check_target(Path(file))  # before anything is read or logged: nothing was exported
        queryset = listexport.subscribers(status, topic)
        counts = listexport.ExportCounts()
        produce = {"withdrawn": listexport.withdrawn_rows, "blocked": listexport.blocked_rows}.get(
            status, listexport.active_rows
        )
        lines = listexport.csv_lines(produce(queryset, counts))
        complete = False
        try:
            if file == "-":
                target = "stdout"
                for line in lines:
                    self.stdout.write(line, ending="")
                self.stdout.flush()
            else:
                target = str(file)
                _write_new_file(Path(file), lines)
            complete = True
        finally:
            listexport.log_export(
                actor=f"cli:{_user()}", target=target, status=status, topic=topic, counts=counts, complete=complete
            )
        # With `-` the CSV is standard output; the summary goes to standard error so it stays out of the file.
        (self.stderr if file == "-" else self.stdout).write(counts.line(target, status))


def _user():
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        return str(os.getuid())


def _exists(path):
    return CommandError(f"{path} exists; refusing to overwrite it (choose a new file name)", returncode=1)


def _check_target(path):
    """Refuse an existing file or a missing directory before anything is read (handle() calls it first)."""
    if path.exists():
        raise _exists(path)
    if not path.parent.is_dir():  # Path("x.csv").parent is Path("."), which is a directory
        raise CommandError(f"{path.parent}: no such directory", returncode=1)


def _write_new_file(path, lines):
    """Write `lines` to a temporary file beside `path`, then link it into place: the name appears only when
    the file is complete, and never replaces a file (os.link fails if the name exists, even if it appeared
    since _check_target). Mode 0600, as the file holds personal data."""
    try:
        _write_and_link(path, lines)
    except OSError as exc:  # no permission, disk full, a file system that takes no files: one line, exit 1
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}", returncode=1) from None


def _write_and_link(path, lines):
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")  # mkstemp: mode 0600
    try:
        with open(fd, "w", encoding="utf-8", newline="") as fh:
            fh.writelines(lines)
            fh.flush()
            os.fsync(fh.fileno())  # the data is on disk before the name points to it
        try:
            os.link(temp, path)
        except FileExistsError:
            raise _exists(path) from None
        except OSError:  # a file system without hard links (FAT, some network mounts): check, then rename
            if path.exists():
                raise _exists(path) from None
            os.rename(temp, path)
            return
    except BaseException:
        os.unlink(temp)
        raise
    os.unlink(temp)
