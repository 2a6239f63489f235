"""Importing subscribers from CSV files: `rundbrief import-subscribers` (docs/cli.md).

Other tools' exports (Mailchimp, CleverReach, rapidmail, Brevo) are read through a column mapping
(import_formats.py, docs/integrations.md); the encoding and delimiter are detected (csvsniff.py).
The rundbrief format's columns (a header row names them, in any order; only `email` is required):

    email, topics, consented_at, confirmed_at, source, ip, consent_text_version

`topics` are topic slugs separated by `|`, `;` or spaces (empty: every topic, as
the sign-up form's consent covers every topic named in the text); times are
ISO 8601 (`2024-03-01T09:30:00+01:00`; without an offset read in TIME_ZONE);
`consent_text_version` is `N` (in LANGUAGE_CODE) or `LANG:N` (`en:2`).

The flow, one stage after the other, per chunk of PARSE_ROWS rows:
read_records → RowParser.parse (invalid rows go to the rejects CSV) →
ChunkWriter.prepare (values and ledger events, no database), both in a thread one
chunk ahead → ChunkWriter.write (duplicates, suppression, already-known addresses,
then bulk inserts and one bulk ledger append), committed every CHUNK_ROWS rows.
Memory stays flat: at most three chunks are held; duplicates
across chunks are found in a temporary table.

Every row needs a consent time (`consented_at`) unless the operator states where consent was
obtained (--consent-basis, recorded in each such row's ledger source): GDPR Art. 7(1), the controller
must be able to prove consent. Members another tool lists as unsubscribed, bounced or complained
go to the suppression list with that reason, never to the active list.

Rows with `confirmed_at` become confirmed subscribers with an `imported`
ledger event carrying the given evidence (GDPR Art. 7(1): the controller must be
able to prove consent). Rows without become pending, with no mail unless
--send-confirmation, which starts the same double opt-in as the form. An
address already in the database is never changed (an import must not undo a
withdrawal, GDPR Art. 7(3)); a suppressed one is skipped (the
suppression list blocks imports: docs/decisions.md, "Suppression and a fresh opt-in"). Re-running a file therefore changes nothing.
"""

import csv
import errno
import gc
import io
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from rundbrief.audience.addresses import normalise_fast  # noqa: F401 (tests compare it with normalise_address)
from rundbrief.audience.csvcells import spreadsheet_safe
from rundbrief.audience.csvsniff import ImportFileError, SniffedFile, sniff
from rundbrief.audience.import_formats import FIELDS, RUNDBRIEF_COLUMNS
from rundbrief.audience.import_rows import CONTROL, Row, RowError, RowParser, truncate_ip_fast  # noqa: F401
from rundbrief.audience.import_writer import ChunkWriter
from rundbrief.db.readahead import read_ahead
from rundbrief.logs import get_logger
from rundbrief.newsroom.models import Topic

log = get_logger("rundbrief.audience.importer")

COLUMNS = RUNDBRIEF_COLUMNS
__all__ = ["ImportFileError", "ImportSummary", "import_files", "import_subscribers"]
# Rows per transaction. Every commit writes out each index page it touched, and rows with random keys
# (address, public id, subject hash) touch nearly every page of those indexes: at 500,000 rows,
# 10,000 rows per transaction spent 22 s committing, 50,000 rows 7 s (docs/benchmarks.md). But on
# SQLite the write lock is held for the whole transaction and sign-ups wait for it: about 0.6 s for
# 10,000 rows here (docs/benchmarks.md, Import), five times that for 50,000. The front door stays responsive
# by default; a bulk import at a quiet hour can pass --chunk-rows 50000.
CHUNK_ROWS = 10_000
# Rows parsed and written at a time, within a transaction: what is held in memory.
PARSE_ROWS = 10_000
CONSENT_BASIS_MAX = 100


@dataclass
class ImportSummary:
    confirmed: int = 0
    pending: int = 0
    suppressed: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects_path: Path | None = None
    suppression_added: int = 0  # members the file lists as unsubscribed, bounced or complained

    def line(self):
        added = f", {self.suppression_added} added to the suppression list" if self.suppression_added else ""
        return (
            f"imported: {self.confirmed} confirmed, {self.pending} pending, {self.suppressed} "
            f"suppressed-skipped, {self.unchanged} unchanged, {self.rejected} rejected{added} "
            f"(see {self.rejects_path})"
        )


def check_file(path, format_name="rundbrief") -> SniffedFile:
    """The file's encoding, delimiter and column mapping; ImportFileError if it cannot be imported at all."""
    return sniff(path, format_name)


def read_records(fh, delimiter=","):
    """(line number, fields or a csv.Error) for every non-blank record after the header."""
    reader = csv.reader(fh, delimiter=delimiter)
    next(reader, None)
    line = reader.line_num + 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            fields = exc
        if fields:
            yield line, fields
        line = reader.line_num + 1


class RejectsFile:
    """The rejects CSV: line number, reason, then the row as it was, so it can be fixed and re-imported."""

    def __init__(self, path, columns):
        self.path = Path(path)
        # Addresses: owner only (0600), and never through a symlink planted where the file goes
        # (O_NOFOLLOW: ELOOP instead of overwriting whatever the link points at).
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:  # ELOOP for a symlink, no permission, a directory: before a single row is read
            reason = "is a symbolic link" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
            raise ImportFileError(f"{self.path}: cannot write the rejects file: {reason}") from None
        os.fchmod(fd, 0o600)  # a rejects file left by an earlier run keeps its old mode otherwise
        self.fh = open(fd, "w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.fh)
        self.writer.writerow(["line", "reason", *columns])
        self.count = 0

    def add(self, line, reason, fields=()):
        self.count += 1
        cells = fields if isinstance(fields, list) else []
        self.writer.writerow([line, reason, *(spreadsheet_safe(cell) for cell in cells)])

    def close(self):
        self.fh.close()


def default_rejects_path(path):
    path = Path(path)
    return path.with_name(path.stem + ".rejects.csv")


def parsed_chunks(raw, fh, parser, chunk_rows, prepare=None, delimiter=","):
    """(rows with their fields, rejected (line, reason, fields), bytes read) per chunk; no database access.
    `prepare(rows)` is called on each chunk's valid rows before it is handed on."""
    chunk, rejected = [], []
    for line, fields in read_records(fh, delimiter):
        try:
            chunk.append((parser.parse(line, fields), fields))
        except RowError as exc:
            rejected.append((line, str(exc), fields))
        if len(chunk) >= chunk_rows:
            if prepare:
                prepare([row for row, _fields in chunk])
            yield chunk, rejected, raw.tell()
            chunk, rejected = [], []
    if prepare:
        prepare([row for row, _fields in chunk])
    yield chunk, rejected, raw.tell()


def check_options(topics=(), consent_basis=""):
    """--topics as known slugs and --consent-basis as one short line; ImportFileError before any file is read."""
    known = {t.slug.lower(): t.slug for t in Topic.objects.all()}
    unknown = [slug for slug in topics if slug.lower() not in known]
    if unknown:
        raise ImportFileError(
            f"--topics: unknown topic {unknown[0][:60]!r} (known: {', '.join(sorted(known.values()))})"
        )
    if CONTROL.search(consent_basis) or len(consent_basis) > CONSENT_BASIS_MAX:
        raise ImportFileError(f"--consent-basis: one line of at most {CONSENT_BASIS_MAX} characters")
    if consent_basis and not consent_basis.strip():
        raise ImportFileError("--consent-basis: empty")
    return tuple(known[slug.lower()] for slug in topics), consent_basis.strip()


def import_files(paths, *, format_name="rundbrief", rejects_path=None, **options):
    """Import several files in one call (Mailchimp's subscribed, unsubscribed and cleaned exports); a list of
    ImportSummary. Every file is checked before the first row is written: a file that cannot be read at all
    (undecodable, no address column, unknown format) stops the whole call with nothing imported."""
    paths = [Path(p) for p in paths]
    if rejects_path and len(paths) > 1:
        raise ImportFileError("--rejects names one file; with several files each gets FILE.rejects.csv")
    sniffed = [check_file(path, format_name) for path in paths]
    topics, consent_basis = check_options(options.pop("topics", ()), options.pop("consent_basis", ""))
    return [
        import_subscribers(
            one.path, rejects_path=rejects_path, sniffed=one, topics=topics, consent_basis=consent_basis, **options
        )
        for one in sniffed
    ]


def import_subscribers(
    path,
    *,
    send_confirmation=False,
    rejects_path=None,
    chunk_rows=CHUNK_ROWS,
    progress=None,
    format_name="rundbrief",
    topics=(),
    consent_basis="",
    sniffed=None,
):
    """Import FILE; returns an ImportSummary. ImportFileError if the file cannot be read at all.

    `progress(done_bytes, total_bytes)` is called after every chunk. The next chunk is parsed in a
    thread while one is written (rundbrief/db/readahead.py). `topics`: slugs for rows that name none;
    `consent_basis`: the operator's statement standing in for a missing consent time (logged, and
    written into each such row's ledger source).
    """
    path = Path(path)
    sniffed = sniffed or check_file(path, format_name)
    topics, consent_basis = check_options(topics, consent_basis)
    columns = sniffed.columns
    if consent_basis:
        log.info("import consent basis stated", file=path.name, format=columns.format.name, consent_basis=consent_basis)
    summary = ImportSummary(rejects_path=Path(rejects_path) if rejects_path else default_rejects_path(path))
    parser = RowParser(columns, path.name, default_topics=topics, consent_basis=consent_basis)
    rejects = RejectsFile(summary.rejects_path, columns.header)
    total = path.stat().st_size
    prefix = columns.format.source_prefix or "import"
    writer = ChunkWriter(
        summary,
        rejects,
        source_prefix=f"{prefix}:{path.name}",
        send_confirmation=send_confirmation,
        rows_per_transaction=chunk_rows,
        consent_basis=consent_basis,
    )
    # Python's cyclic garbage collector, left on, ran again and again over the chunks in flight (several
    # 100,000 live objects): about a third of the import's CPU time (py-spy, docs/benchmarks.md). Rows and
    # chunks make no reference cycles and are freed by their reference counts, so it is off for the import
    # (even one young-generation pass per chunk cost 40 ms); whatever cycles remain, it finds afterwards.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with open(path, "rb") as raw, io.TextIOWrapper(raw, encoding=sniffed.encoding, newline="") as fh:
            writer.open()
            chunks = parsed_chunks(
                raw, fh, parser, min(chunk_rows, PARSE_ROWS), prepare=writer.prepare, delimiter=sniffed.delimiter
            )
            with read_ahead(chunks) as chunks:
                for chunk, rejected, position in chunks:
                    for line, reason, fields in rejected:
                        rejects.add(line, reason, fields)
                    writer.write(chunk)
                    if progress:
                        progress(position, total)
            writer.commit()
    except BaseException as exc:
        writer.rollback(exc)
        raise
    finally:
        if collecting:
            gc.enable()
        writer.close()
        rejects.close()
    summary.rejected = rejects.count
    return summary


@dataclass
class PreviewRow:
    line: int
    values: list  # (field, value) of the mapped columns, in the file's order
    extra: dict  # the columns not imported
    outcome: str  # "confirmed", "pending", "suppressed:REASON" or "rejected"
    reason: str = ""


@dataclass
class Preview:
    sniffed: SniffedFile
    rows: list

    @property
    def mapping(self):
        return self.sniffed.columns.mapping

    attributes: list = ()  # (column, attribute key) of the columns that fill subscriber attributes

    @property
    def not_imported(self):
        taken = {column for column, _key in self.attributes}
        return [name for _index, name in self.sniffed.columns.extra if name not in taken]


def preview(path, format_name="rundbrief", *, rows=5, topics=(), consent_basis=""):
    """What an import of FILE would do with its first `rows` rows, writing nothing: the column mapping and
    each row's outcome (the admin's preview step). ImportFileError as import_files raises it."""
    path = Path(path)
    sniffed = check_file(path, format_name)
    topics, consent_basis = check_options(topics, consent_basis)
    parser = RowParser(sniffed.columns, path.name, default_topics=topics, consent_basis=consent_basis)
    fields = {index: name for name, index in zip(FIELDS, sniffed.columns.order, strict=True) if index is not None}
    shown = []
    with open(path, encoding=sniffed.encoding, newline="") as fh:
        for line, record in itertools.islice(read_records(fh, sniffed.delimiter), rows):
            cells = record if isinstance(record, list) else []
            values = [(fields[i], cells[i] if i < len(cells) else "") for i in sorted(fields)]
            extra = {name: cells[i] for i, name in parser.extra if i < len(cells) and cells[i]}
            try:
                row = parser.parse(line, record)
            except RowError as exc:
                shown.append(PreviewRow(line, values, extra, "rejected", str(exc)))
                continue
            if row.suppress:
                outcome = f"suppressed:{row.suppress}"
            else:
                outcome = "confirmed" if row.confirmed_at else "pending"
            shown.append(PreviewRow(line, values, extra, outcome))
    columns = sniffed.columns.header
    return Preview(sniffed, shown, [(columns[i], d.key) for i, d in parser.attribute_columns])
