"""Importing subscribers from a CSV file: `rundbrief import-subscribers` (docs/cli.md).

Columns (a header row names them, in any order; only `email` is required):

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

Rows with `confirmed_at` become confirmed subscribers with an `imported`
ledger event carrying the given evidence (GDPR Art. 7(1): the controller must be
able to prove consent). Rows without become pending, with no mail unless
--send-confirmation, which starts the same double opt-in as the form. An
address already in the database is never changed (an import must not undo a
withdrawal, GDPR Art. 7(3)); a suppressed one is skipped (the
suppression list blocks imports: docs/decisions.md, "Suppression and a fresh opt-in"). Re-running a file therefore changes nothing.
"""

import codecs
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
from rundbrief.audience.enrolment import consented_topics
from rundbrief.audience.import_writer import ChunkWriter
from rundbrief.audience.models import ConsentText
from rundbrief.db.readahead import read_ahead
from rundbrief.newsroom.models import Topic

COLUMNS = ("email", "topics", "consented_at", "confirmed_at", "source", "ip", "consent_text_version")
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


class ImportFileError(ValueError):
    """The file cannot be read at all; the message is one line for the operator."""


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

    def line(self):
        return (
            f"imported: {self.confirmed} confirmed, {self.pending} pending, {self.suppressed} "
            f"suppressed-skipped, {self.unchanged} unchanged, {self.rejected} rejected "
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
    # Filled in by ChunkWriter.prepare in the parsing thread:
    key: int = 0  # 63 bits of the subject hash, the key of the duplicate table
    values: tuple = ()  # the Subscriber row but its id, in database form
    event: object = None  # its ledger_batch.EventRow, ready to be chained


def truncate_ip_fast(raw: str, store_full_ip=False) -> str:
    """addresses.truncate_ip, with a fast path for dotted-quad IPv4 (tests check both agree)."""
    if not store_full_ip and IPV4.fullmatch(raw):
        return raw.rpartition(".")[0] + ".0"
    return truncate_ip(raw)


def check_file(path: Path) -> list[str]:
    """The header's column names; ImportFileError if the file is unreadable, not UTF-8 or has no `email`."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            offset = 0
            # A whole pass first: a file that is not UTF-8 is refused before any row is imported.
            while block := fh.read(1 << 20):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    raise ImportFileError(f"{path}: not UTF-8 (byte {offset + exc.start + 1})") from None
                offset += len(block)
            decoder.decode(b"", final=True)
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: not UTF-8 (truncated character at the end)") from None
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    except csv.Error as exc:
        raise ImportFileError(f"{path}: the header row is not valid CSV ({exc})") from None
    columns = [name.strip().lower() for name in header or []]
    if "email" not in columns:
        raise ImportFileError(f"{path}: no `email` column in the header row (expected: {', '.join(COLUMNS)})")
    return columns


def read_records(fh):
    """(line number, fields or a csv.Error) for every non-blank record after the header."""
    reader = csv.reader(fh)
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

    def __init__(self, columns, file_label):
        self.columns = columns
        self.order = [columns.index(name) if name in columns else None for name in COLUMNS]
        self.file_label = file_label
        self.topics = {t.slug.lower(): t.slug for t in Topic.objects.all()}
        self.all_topics = tuple(sorted(self.topics.values()))
        self.texts = {(t.language, t.version): t for t in ConsentText.objects.all()}
        self.tz = timezone.get_current_timezone()
        self.now = timezone.now()
        self.subject_hash = subject_hasher(hash_key())
        self.store_full_ip = settings.RUNDBRIEF_STORE_FULL_IP
        self.language = settings.LANGUAGE_CODE
        self.times = {}
        # Files repeat a few values of these columns over and over; each distinct one is checked once.
        self.topic_memo, self.text_memo = {}, {}
        # A missing column, or a short record, reads as "": its index points into the padding.
        self.padding = [""] * len(columns)
        self.pick = operator.itemgetter(*(len(columns) if i is None else i for i in self.order))

    def values(self, fields):
        return [from_spreadsheet_safe(value.strip()) for value in self.pick(fields + self.padding)]

    def parse(self, line, fields) -> Row:
        if isinstance(fields, csv.Error):
            raise RowError(f"not valid CSV ({fields})")
        if len(fields) > len(self.columns):
            raise RowError(f"{len(fields)} fields, but the header names {len(self.columns)}")
        raw_email, topics, consented, confirmed, source, raw_ip, version = self.values(fields)
        try:
            email = normalise_fast(raw_email)
        except ValidationError as exc:
            with translation.override("en"):  # the rejects file is for the operator, like all CLI output
                raise RowError(f"email: {exc.messages[0]}") from None
        if CONTROL.search(topics + consented + confirmed + source + raw_ip + version):
            raise RowError("line breaks and other control characters are not allowed")
        consented_at = self.time(consented, "consented_at")
        confirmed_at = self.time(confirmed, "confirmed_at")
        if consented_at and confirmed_at and confirmed_at < consented_at:
            raise RowError("confirmed_at lies before consented_at")
        if len(source) > SOURCE_MAX:
            raise RowError(f"source: longer than {SOURCE_MAX} characters")
        ip = truncate_ip_fast(raw_ip, self.store_full_ip)
        if raw_ip and not ip:
            raise RowError(f"ip: {raw_ip[:60]!r} is not an IPv4 or IPv6 address")
        text = self.text_memo.get(version) or self.consent_text(version)
        slugs = self.topic_memo.get(topics) or self.topic_slugs(topics)
        subject = self.subject_hash(email.encode("utf-8"))  # = addresses.subject_hash
        return Row(
            line,
            email,
            subject,
            slugs,
            consented_at,
            confirmed_at,
            source,
            ip,
            text,
            text.language if text else self.language,
        )

    def topic_slugs(self, value):
        slugs = set()
        for word in TOPIC_SEPARATORS.split(value):
            if word:
                slug = self.topics.get(word.lower())
                if slug is None:
                    raise RowError(f"topics: unknown topic {word[:60]!r} (known: {', '.join(self.all_topics)})")
                slugs.add(slug)
        return _remember(self.topic_memo, value, consented_topics(sorted(slugs), self.all_topics))

    def time(self, value, name):
        if not value:
            return None
        # Files repeat the same few times (a campaign's consent date); each is parsed once.
        parsed = self.times.get(value)
        if parsed is not None:
            return parsed
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise RowError(f"{name}: {value[:60]!r} is not an ISO 8601 date and time") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=self.tz)
        if parsed > self.now + dt.timedelta(minutes=5):
            raise RowError(f"{name}: lies in the future")
        if len(self.times) >= 10_000:
            self.times.clear()
        self.times[value] = parsed
        return parsed

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


def parsed_chunks(raw, fh, parser, chunk_rows, prepare=None):
    """(rows with their fields, rejected (line, reason, fields), bytes read) per chunk; no database access.
    `prepare(rows)` is called on each chunk's valid rows before it is handed on."""
    chunk, rejected = [], []
    for line, fields in read_records(fh):
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


def import_subscribers(path, *, send_confirmation=False, rejects_path=None, chunk_rows=CHUNK_ROWS, progress=None):
    """Import FILE; returns an ImportSummary. ImportFileError if the file cannot be read at all.

    `progress(done_bytes, total_bytes)` is called after every chunk. The next chunk is parsed in a
    thread while one is written (rundbrief/db/readahead.py).
    """
    path = Path(path)
    columns = check_file(path)
    summary = ImportSummary(rejects_path=Path(rejects_path) if rejects_path else default_rejects_path(path))
    parser = RowParser(columns, path.name)
    rejects = RejectsFile(summary.rejects_path, columns)
    total = path.stat().st_size
    writer = ChunkWriter(
        summary,
        rejects,
        source_prefix=f"import:{path.name}",
        send_confirmation=send_confirmation,
        rows_per_transaction=chunk_rows,
    )
    # Python's cyclic garbage collector, left on, ran again and again over the chunks in flight (several
    # 100,000 live objects): about a third of the import's CPU time (py-spy, docs/benchmarks.md). Rows and
    # chunks make no reference cycles and are freed by their reference counts, so it is off for the import
    # (even one young-generation pass per chunk cost 40 ms); whatever cycles remain, it finds afterwards.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with open(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
            writer.open()
            chunks = parsed_chunks(raw, fh, parser, min(chunk_rows, PARSE_ROWS), prepare=writer.prepare)
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
