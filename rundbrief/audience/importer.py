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
import datetime as dt
import errno
import gc
import io
import operator
import os
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from rundbrief.audience.addresses import hash_key, normalise_fast, subject_hasher, truncate_ip
from rundbrief.audience.csvcells import from_spreadsheet_safe, spreadsheet_safe
from rundbrief.audience.csvsniff import ImportFileError, SniffedFile, sniff
from rundbrief.audience.enrolment import consented_topics
from rundbrief.audience.import_formats import FIELDS, RUNDBRIEF_COLUMNS, UNSUBSCRIBED, ColumnMap
from rundbrief.audience.import_writer import ChunkWriter
from rundbrief.audience.models import ConsentText
from rundbrief.db.readahead import read_ahead
from rundbrief.logs import get_logger
from rundbrief.newsroom.models import Topic

log = get_logger("rundbrief.audience.importer")

COLUMNS = RUNDBRIEF_COLUMNS
FIELD_STATUS, FIELD_CONSENTED_AT = FIELDS.index("status"), FIELDS.index("consented_at")
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
TOPIC_SEPARATORS = re.compile(r"[|;\s]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SOURCE_MAX = 120  # leaves room in the ledger's 300-character source for file, line and times
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}", re.ASCII)
# What German Excel writes for a date and time cell saved as CSV: 05.12.2026 09:30 (or with seconds, or a date).
GERMAN_TIME = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?", re.ASCII)
CONSENT_BASIS_MAX = 100


class RowError(ValueError):
    """One row is invalid; the message is the reason written to the rejects file."""


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


@dataclass(slots=True)
class Row:
    line: int
    email: str
    subject: str
    topics: tuple  # sorted slugs
    consented_at: dt.datetime | None
    confirmed_at: dt.datetime | None
    source: str
    ip: str
    consent_text: ConsentText | None
    language: str
    confirm_ip: str = ""
    suppress: str = ""  # a Suppression.Reason: the member goes to the suppression list, not the active one
    suppress_time: dt.datetime | None = None
    basis: bool = False  # no consent time: the operator's --consent-basis stands for it
    # The columns no field takes, {name: value}, for the typed subscriber attributes to pick up: the seam
    # is this dict, filled per row and handed to nobody yet (docs/integrations.md, "Columns not imported").
    extra: dict | None = None
    # Filled in by ChunkWriter.prepare in the parsing thread:
    key: int = 0  # 63 bits of the subject hash, the key of the duplicate table
    values: tuple = ()  # the Subscriber row but its id, in database form
    event: object = None  # its ledger_batch.EventRow, ready to be chained


def truncate_ip_fast(raw: str, store_full_ip=False) -> str:
    """addresses.truncate_ip, with a fast path for dotted-quad IPv4 (tests check both agree)."""
    if not store_full_ip and IPV4.fullmatch(raw):
        return raw.rpartition(".")[0] + ".0"
    return truncate_ip(raw)


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


class RowParser:
    """Turns one CSV record into a Row, or RowError naming what is wrong."""

    def __init__(self, columns: ColumnMap, file_label, *, default_topics=(), consent_basis=""):
        self.columns = columns.header
        self.order = columns.order
        self.extra = columns.extra
        self.file_reason = columns.file_reason
        fmt = columns.format
        self.statuses = fmt.statuses if columns.order[FIELD_STATUS] is not None else None
        self.unix_times = fmt.unix_times
        consent_column = columns.order[FIELD_CONSENTED_AT]
        self.consent_column = columns.header[consent_column] if consent_column is not None else "consented_at"
        self.consent_basis = consent_basis
        self.languages = {code for code, _name in settings.LANGUAGES}
        self.file_label = file_label
        self.topics = {t.slug.lower(): t.slug for t in Topic.objects.all()}
        self.all_topics = tuple(sorted(self.topics.values()))
        self.default_topics = tuple(sorted(default_topics))  # --topics: for rows that name none
        self.texts = {(t.language, t.version): t for t in ConsentText.objects.all()}
        self.tz = dt.UTC if fmt.naive_times_utc else timezone.get_current_timezone()
        self.now = timezone.now()
        self.subject_hash = subject_hasher(hash_key())
        self.store_full_ip = settings.RUNDBRIEF_STORE_FULL_IP
        self.language = settings.LANGUAGE_CODE
        self.times = {}
        # Files repeat a few values of these columns over and over; each distinct one is checked once.
        self.topic_memo, self.text_memo = {}, {}
        # A missing column, or a short record, reads as "": its index points into the padding.
        self.padding = [""] * len(self.columns)
        self.pick = operator.itemgetter(*(len(self.columns) if i is None else i for i in self.order))

    def values(self, fields):
        return [from_spreadsheet_safe(value.strip()) for value in self.pick(fields + self.padding)]

    def parse(self, line, fields) -> Row:
        if isinstance(fields, csv.Error):
            raise RowError(f"not valid CSV ({fields})")
        if len(fields) > len(self.columns):
            raise RowError(f"{len(fields)} fields, but the header names {len(self.columns)}")
        (raw_email, topics, consented, confirmed, source, raw_ip, version, raw_confirm_ip, language, status, gone) = (
            self.values(fields)
        )
        try:
            email = normalise_fast(raw_email)
        except ValidationError as exc:
            with translation.override("en"):  # the rejects file is for the operator, like all CLI output
                raise RowError(f"email: {exc.messages[0]}") from None
        if CONTROL.search(topics + consented + confirmed + source + raw_ip + version + raw_confirm_ip + language):
            raise RowError("line breaks and other control characters are not allowed")
        reason = self.file_reason or (self.status_reason(status) if self.statuses is not None else "")
        if gone and gone != "0" and not reason:  # CleverReach's `deactivated`: unsubscribed at that time
            reason = UNSUBSCRIBED
        if reason:
            # Only the address and the time: the member is suppressed, whatever consent they once gave.
            subject = self.subject_hash(email.encode("utf-8"))
            row = Row(line, email, subject, (), None, None, "", "", None, self.language, suppress=reason)
            row.suppress_time = self.time(gone, "suppress_time")
            return self.with_extra(row, fields)
        consented_at = self.time(consented, "consented_at")
        confirmed_at = self.time(confirmed, "confirmed_at")
        if consented_at is None and not self.consent_basis:
            raise RowError(
                f"{self.consent_column}: no consent time; without one the consent cannot be proven "
                "(GDPR Art. 7(1)): give it, or state where consent was obtained with --consent-basis"
            )
        if consented_at and confirmed_at and confirmed_at < consented_at:
            raise RowError("confirmed_at lies before consented_at")
        if len(source) > SOURCE_MAX:
            raise RowError(f"source: longer than {SOURCE_MAX} characters")
        ip = truncate_ip_fast(raw_ip, self.store_full_ip)
        if raw_ip and not ip:
            raise RowError(f"ip: {raw_ip[:60]!r} is not an IPv4 or IPv6 address")
        confirm_ip = truncate_ip_fast(raw_confirm_ip, self.store_full_ip) if raw_confirm_ip else ""
        if raw_confirm_ip and not confirm_ip:
            raise RowError(f"confirm_ip: {raw_confirm_ip[:60]!r} is not an IPv4 or IPv6 address")
        text = self.text_memo.get(version) or self.consent_text(version)
        slugs = self.topic_memo.get(topics) or self.topic_slugs(topics)
        subject = self.subject_hash(email.encode("utf-8"))  # = addresses.subject_hash
        row = Row(
            line,
            email,
            subject,
            slugs,
            consented_at,
            confirmed_at,
            source,
            ip,
            text,
            text.language if text else self.row_language(language),
            confirm_ip,
            basis=consented_at is None,
        )
        return self.with_extra(row, fields) if self.extra else row

    def with_extra(self, row, fields):
        row.extra = {name: fields[i] for i, name in self.extra if i < len(fields) and fields[i]}
        return row

    def status_reason(self, value):
        reason = self.statuses.get(value.lower())
        if reason is None:
            known = ", ".join(repr(v) for v in self.statuses)
            raise RowError(f"status: unknown value {value[:40]!r} (known: {known})")
        return reason

    def row_language(self, value):
        """A language the site has (Mailchimp writes `de`, `en`, `en_US`), else the default."""
        if value:
            code = value.replace("_", "-").split("-")[0].lower()
            if code in self.languages:
                return code
        return self.language

    def topic_slugs(self, value):
        slugs = set()
        for word in TOPIC_SEPARATORS.split(value):
            if word:
                slug = self.topics.get(word.lower())
                if slug is None:
                    raise RowError(f"topics: unknown topic {word[:60]!r} (known: {', '.join(self.all_topics)})")
                slugs.add(slug)
        if not slugs and self.default_topics:
            return _remember(self.topic_memo, value, self.default_topics)
        return _remember(self.topic_memo, value, consented_topics(sorted(slugs), self.all_topics))

    def time(self, value, name):
        if not value or (value == "0" and self.unix_times):  # CleverReach writes 0 for "never"
            return None
        # Files repeat the same few times (a campaign's consent date); each is parsed once.
        parsed = self.times.get(value)
        if parsed is not None:
            return parsed
        parsed = self.parse_time(value, name)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=self.tz)
        if parsed > self.now + dt.timedelta(minutes=5):
            raise RowError(f"{name}: lies in the future")
        if len(self.times) >= 10_000:
            self.times.clear()
        self.times[value] = parsed
        return parsed

    def parse_time(self, value, name):
        """ISO 8601, German Excel's 05.12.2026 09:30, and for CleverReach seconds since 1970 (UTC)."""
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        german = GERMAN_TIME.fullmatch(value)
        try:
            if german:
                day, month, year, hour, minute, second = (int(part or 0) for part in german.groups())
                return dt.datetime(year, month, day, hour, minute, second)
            if self.unix_times and value.isdigit():
                return dt.datetime.fromtimestamp(int(value), dt.UTC)
        except (ValueError, OverflowError, OSError):
            pass
        raise RowError(f"{name}: {value[:60]!r} is not a date and time (ISO 8601 or DD.MM.YYYY HH:MM)") from None

    def consent_text(self, value):
        if not value:
            return None
        language, _, version = value.rpartition(":")
        try:
            text = self.texts.get((language.strip().lower() or self.language, int(version)))
        except ValueError:
            text = None
        if text is None:
            raise RowError(f"consent_text_version: unknown consent text {value[:60]!r} (use N or LANG:N)")
        return _remember(self.text_memo, value, text)


def _remember(memo, key, value, limit=10_000):
    """memo[key] = value, starting over when full, so a file of all-different values cannot grow it."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
    return value


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
        log.info("import_consent_basis", file=path.name, format=columns.format.name, consent_basis=consent_basis)
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
