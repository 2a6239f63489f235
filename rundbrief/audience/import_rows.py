"""One CSV record → one Row: the per-row checks of `import-subscribers` (importer.py has the flow).

Everything that depends on the file's format was worked out once, into the ColumnMap
(import_formats.py), so `RowParser.parse` runs the same few steps for every row of every format.
Accepted times (docs/integrations.md, "Dates"): ISO 8601 (`T` or a space), German Excel's
`05.12.2026 09:30` (with or without seconds, or a date alone), and for CleverReach seconds since 1970.
"""

import csv
import datetime as dt
import operator
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from rundbrief.audience.addresses import hash_key, normalise_fast, subject_hasher, truncate_ip
from rundbrief.audience.attributes import clean_values
from rundbrief.audience.csvcells import from_spreadsheet_safe
from rundbrief.audience.enrolment import consented_topics
from rundbrief.audience.import_formats import FIELDS, UNSUBSCRIBED, ColumnMap
from rundbrief.audience.models import AttributeDefinition, ConsentText
from rundbrief.newsroom.models import Topic

FIELD_STATUS, FIELD_CONSENTED_AT = FIELDS.index("status"), FIELDS.index("consented_at")
TOPIC_SEPARATORS = re.compile(r"[|;\s]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SOURCE_MAX = 120  # leaves room in the ledger's 300-character source for file, line and times
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}", re.ASCII)
# What German Excel writes for a date and time cell saved as CSV: 05.12.2026 09:30 (or with seconds, or a date).
GERMAN_TIME = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?", re.ASCII)


class RowError(ValueError):
    """One row is invalid; the message is the reason written to the rejects file."""


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
    # The columns no field takes, {name: value}; those named like a subscriber attribute's key are not
    # among them but in `attributes`, checked and typed (docs/integrations.md, "Columns not imported").
    extra: dict | None = None
    attributes: dict | None = None
    # Filled in by ChunkWriter.prepare in the parsing thread:
    key: int = 0  # 63 bits of the subject hash, the key of the duplicate table
    values: tuple = ()  # the Subscriber row but its id, in database form
    event: object = None  # its ledger_batch.EventRow, ready to be chained


def truncate_ip_fast(raw: str, store_full_ip=False) -> str:
    """addresses.truncate_ip, with a fast path for dotted-quad IPv4 (tests check both agree)."""
    if not store_full_ip and IPV4.fullmatch(raw):
        return raw.rpartition(".")[0] + ".0"
    return truncate_ip(raw)


class RowParser:
    """Turns one CSV record into a Row, or RowError naming what is wrong."""

    def __init__(self, columns: ColumnMap, file_label, *, default_topics=(), consent_basis=""):
        self.columns = columns.header
        self.order = columns.order
        # A column named like an attribute's key (case aside) fills that attribute (audience/attributes.py).
        definitions = {d.key.lower(): d for d in AttributeDefinition.objects.all()}
        self.attribute_columns = tuple(
            (i, definitions[name.strip().lower()]) for i, name in columns.extra if name.strip().lower() in definitions
        )
        self.attribute_definitions = {d.key: d for _i, d in self.attribute_columns}
        taken = {i for i, _definition in self.attribute_columns}
        self.extra = tuple((i, name) for i, name in columns.extra if i not in taken)
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
            try:
                row.suppress_time = self.time(gone, "suppress_time")
            except RowError:
                pass  # an unreadable time keeps no one on the list: suppressed without it
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
        if self.attribute_columns:
            row.attributes = self.attributes(fields)
        return self.with_extra(row, fields) if self.extra else row

    def attributes(self, fields):
        given = {d.key: fields[i].strip() for i, d in self.attribute_columns if i < len(fields) and fields[i].strip()}
        if not given:
            return None
        try:
            return {k: v for k, v in clean_values(given, self.attribute_definitions).items() if v is not None}
        except ValidationError as exc:
            raise RowError("; ".join(exc.messages)) from None

    def with_extra(self, row, fields):
        row.extra = {name: fields[i] for i, name in self.extra if i < len(fields) and fields[i]}
        return row

    def status_reason(self, value):
        if not value:
            return ""  # no status given: a member of the exported list
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
