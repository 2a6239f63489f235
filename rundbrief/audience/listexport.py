"""Exporting the subscriber list as CSV in the importer's format: `rundbrief export-subscribers`, the admin's download.

A merchant takes the list elsewhere, or backs it up and imports it again, with the
proof of consent (GDPR Art. 7(1)) in the row: the columns are the importer's
(rundbrief/audience/importer.py) and three it ignores.

    email, topics, consented_at, confirmed_at, source, ip, consent_text_version, status, language, requested_at

Every value comes from the person's latest `requested` or `imported` ledger event (where
and under which text consent was given) and its ConsentEvidence, or from the subscriber
row; docs/cli.md says which. Exporting then importing then exporting again gives the
same person columns.

Only confirmed and pending people are exported in that form. Withdrawn people (GDPR
Art. 7(3)) get a file of their own whose header has no `email` column, which the
importer refuses as a whole; addresses on the suppression list (bounced, complained,
erased and signed up again) are left out, as are people without a topic (the
importer reads an empty `topics` as "every topic").

Streaming: subscribers are read CHUNK at a time by keyset pagination on the primary
key; per chunk one query each fetches their topics, their consent events (joined to
evidence and consent text in SQL) and their suppressions. Memory does not grow with
the list. The chunks are separate reads, not one snapshot: a change made during the
export may or may not be in the file.
"""

import csv
import re
from dataclasses import dataclass
from datetime import UTC

from rundbrief.audience.addresses import hash_key, subject_hasher
from rundbrief.audience.csvcells import spreadsheet_safe
from rundbrief.audience.import_rows import CONTROL, SOURCE_MAX
from rundbrief.audience.importer import COLUMNS as IMPORTER_COLUMNS
from rundbrief.audience.models import ConsentEvent, Subscriber, Subscription, Suppression
from rundbrief.logs import get_logger

log = get_logger("rundbrief.audience.listexport")

COLUMNS = (*IMPORTER_COLUMNS, "status", "language", "requested_at")
# No `email` column on purpose: the importer refuses a file without one, so a withdrawn person
# cannot be subscribed again by importing this file (GDPR Art. 7(3)).
WITHDRAWN_COLUMNS = ("address", "status", "language", "requested_at", "withdrawn_at")
CHUNK = 2000  # subscribers per read; also the size of the `IN (…)` lists, far below SQLite's 32,766
ACTIVE = (Subscriber.Status.CONFIRMED, Subscriber.Status.PENDING)
STATUSES = {
    "active": ACTIVE,
    "confirmed": (Subscriber.Status.CONFIRMED,),
    "pending": (Subscriber.Status.PENDING,),
    "withdrawn": (Subscriber.Status.WITHDRAWN,),
    "blocked": (*ACTIVE, Subscriber.Status.WITHDRAWN),
}
CONSENT_KINDS = (ConsentEvent.Kind.REQUESTED, ConsentEvent.Kind.IMPORTED)
# What import_writer.ChunkWriter._source writes:
# `import:[TOOL:]FILE:LINE[ source=S][ consented_at=T][ confirmed_at=T][ consent_basis=B]`.
# (A request mailed by `import-subscribers --send-confirmation` carries the same source.)
IMPORT_SOURCE = re.compile(
    r"(?P<origin>import:.*?:\d+)(?: source=(?P<source>.*?))?(?: consented_at=(?P<consented>\S+))?"
    r"(?: confirmed_at=\S+)?(?: consent_basis=.*)?",
    re.S,
)


@dataclass
class ExportCounts:
    confirmed: int = 0
    pending: int = 0
    withdrawn: int = 0
    suppressed: int = 0  # left out: on the suppression list
    without_topics: int = 0  # left out: an empty `topics` would import as every topic

    @property
    def rows(self):
        return self.confirmed + self.pending + self.withdrawn

    def line(self, target, status="active"):
        if status == "withdrawn":
            return f"exported: {self.withdrawn} withdrawn to {target}"
        if status == "blocked":
            return f"exported: {self.withdrawn} withdrawn and {self.suppressed} suppressed to {target}"
        return (
            f"exported: {self.rows} subscribers ({self.confirmed} confirmed, {self.pending} pending) to "
            f"{target}; left out: {self.suppressed} suppressed, {self.without_topics} without topics"
        )


def subscribers(status="active", topic=None):
    """The subscribers an export of `status` (active, confirmed, pending, withdrawn) and `topic` (a slug) covers."""
    queryset = Subscriber.objects.filter(status__in=STATUSES[status])
    if topic:
        queryset = queryset.filter(subscriptions__topic__slug=topic)
    return queryset


def _time(value):
    return value.astimezone(UTC).isoformat() if value else ""


def clean_source(value):
    """A source the importer accepts as it is: no control characters (it refuses them), no outer spaces
    (it strips them), at most SOURCE_MAX characters; so a second export gives the same text."""
    value = CONTROL.sub(" ", value).strip()
    if len(value) > SOURCE_MAX:
        value = value[: SOURCE_MAX - 1].rstrip() + "…"
    return value


def consent_given(kind, occurred_at, source):
    """(consented_at, source) of a consent event, as the importer's columns.

    An import records the given time and source inside the event's source; taking them out again
    keeps a re-import from nesting `import:FILE:LINE` sources and from moving consented_at to the
    import's time. Nothing given stays nothing: putting the file and line in its place would make
    the next round's export differ from this one.
    """
    match = IMPORT_SOURCE.fullmatch(source)
    if match is None:
        return _time(occurred_at), clean_source(source)
    consented = match["consented"] or (_time(occurred_at) if kind == ConsentEvent.Kind.REQUESTED else "")
    return consented, clean_source(match["source"] or "")


def _chunks(queryset, fields):
    """Lists of up to CHUNK rows (`pk` first), in primary-key order; each read starts after the last key."""
    queryset = queryset.order_by("pk").values_list("pk", *fields)
    last = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last)[:CHUNK])
        if not chunk:
            return
        yield chunk
        last = chunk[-1][0]


def _topics_of(ids):
    topics = {}
    for subscriber_id, slug in Subscription.objects.filter(subscriber_id__in=ids).values_list(
        "subscriber_id", "topic__slug"
    ):
        topics.setdefault(subscriber_id, []).append(slug)
    return topics


def _consent_events_of(ids):
    """Each subscriber's latest `requested` or `imported` event: kind, time, source, IP, text language and version."""
    latest = {}
    events = (
        ConsentEvent.objects.filter(subscriber_id__in=ids, kind__in=CONSENT_KINDS)
        .order_by("pk")
        .values_list(
            "subscriber_id",
            "kind",
            "occurred_at",
            "source",
            "evidence__ip",
            "consent_text__language",
            "consent_text__version",
        )
    )
    for subscriber_id, *event in events:
        latest[subscriber_id] = event
    return latest


def _suppressed_among(chunk, hasher):
    """{primary key: suppression reason} for the chunk's addresses on the suppression list (keyed hashes only)."""
    hashes = {hasher(row[1].encode("utf-8")): row[0] for row in chunk}
    found = Suppression.objects.filter(address_hash__in=list(hashes)).values_list("address_hash", "reason")
    return {hashes[h]: reason for h, reason in found}


def active_rows(queryset, counts):
    """The header, then one row per confirmed or pending subscriber of `queryset` (others are skipped)."""
    yield list(COLUMNS)
    hasher = subject_hasher(hash_key())
    queryset = queryset.filter(status__in=ACTIVE)
    for chunk in _chunks(queryset, ["email", "status", "language", "requested_at", "confirmed_at"]):
        ids = [row[0] for row in chunk]
        topics, events, suppressed = _topics_of(ids), _consent_events_of(ids), _suppressed_among(chunk, hasher)
        for pk, email, status, language, requested_at, confirmed_at in chunk:
            if pk in suppressed:
                counts.suppressed += 1
                continue
            if pk not in topics:
                counts.without_topics += 1
                continue
            consented_at, source, ip, version = "", "", "", ""
            if pk in events:
                kind, occurred_at, raw_source, ip, text_language, text_version = events[pk]
                consented_at, source = consent_given(kind, occurred_at, raw_source)
                ip = ip or ""
                version = f"{text_language}:{text_version}" if text_version else ""
            confirmed = status == Subscriber.Status.CONFIRMED
            # A pending person keeps the confirmed_at of an earlier, withdrawn consent; exported, it would
            # import them as confirmed. Only a confirmed person's confirmation is theirs now.
            yield [
                email,
                "|".join(sorted(topics[pk])),
                consented_at,
                _time(confirmed_at) if confirmed else "",
                source,
                ip,
                version,
                status,
                language,
                _time(requested_at),
            ]
            if confirmed:
                counts.confirmed += 1
            else:
                counts.pending += 1


def _address_rows(queryset, counts, *, suppressed_too):
    """The header, then the withdrawn people of `queryset` and, if `suppressed_too`, those on the suppression
    list whose row is still here (a hard bounce or a complaint leaves a subscriber `confirmed`): enough to
    block them elsewhere, no consent. The status column says which: `withdrawn`, or `suppressed:` and the
    reason (`bounced`, `complained`, …)."""
    yield list(WITHDRAWN_COLUMNS)
    hasher = subject_hasher(hash_key()) if suppressed_too else None
    for chunk in _chunks(queryset, ["email", "status", "language", "requested_at", "withdrawn_at"]):
        suppressed = _suppressed_among(chunk, hasher) if suppressed_too else {}
        for pk, email, status, language, requested_at, withdrawn_at in chunk:
            if status == Subscriber.Status.WITHDRAWN:
                counts.withdrawn += 1
            elif pk in suppressed:
                status = f"suppressed:{suppressed[pk]}"
                counts.suppressed += 1
            else:
                continue
            yield [email, status, language, _time(requested_at), _time(withdrawn_at)]


def blocked_rows(queryset, counts):
    """Everyone of `queryset` another system must not mail: the withdrawn and the suppressed (_address_rows)."""
    return _address_rows(queryset, counts, suppressed_too=True)


def withdrawn_rows(queryset, counts):
    """The withdrawn subscribers of `queryset` (_address_rows)."""
    return _address_rows(queryset.filter(status=Subscriber.Status.WITHDRAWN), counts, suppressed_too=False)


class _Line:
    """A file-like object whose write() returns what it is given: csv.writer then makes single lines."""

    def write(self, text):
        return text


def csv_lines(rows):
    """Each row as one CSV line (RFC 4180: CRLF, fields quoted where needed), no cell a formula (csvcells.py)."""
    writer = csv.writer(_Line())
    for row in rows:
        yield writer.writerow([spreadsheet_safe(value) for value in row])


def log_export(*, actor, target, status, topic, counts, complete):
    """An export of personal data, for the operator's log: who, what and how many, never an address."""
    log.info(
        "subscriber list exported" if complete else "subscriber list export interrupted",
        actor=actor,
        target=target,
        status=status,
        topic=topic or "",
        rows=counts.rows,
        left_out_suppressed=counts.suppressed,
        left_out_without_topics=counts.without_topics,
    )
