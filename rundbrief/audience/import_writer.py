"""The writing stage of the subscriber import: chunks of parsed rows, several chunks per transaction.

See rundbrief/audience/importer.py for the flow. Rows are written with plain
multi-row INSERTs and the ledger's batch append (ledger_batch.append_events),
because the import should reach 50,000 rows/s on SQLite (docs/benchmarks.md, "Targets"); pending rows
that are to be mailed go one by one through actions.request_subscription,
the same double opt-in as the form, since the mail is their bottleneck anyway.

Writing is split in two: `ChunkWriter.prepare` does the per-row work that needs no
database (values, public ids, salts, each event's canonical bytes) in the parsing
thread, one chunk ahead; `ChunkWriter.write` runs the statements, and while SQLite
executes one (the GIL released) the other thread can work.
"""

import os
from contextlib import closing
from datetime import UTC

from django.db import connection, transaction
from django.utils import timezone

from rundbrief.audience import actions
from rundbrief.audience.enrolment import NewSubscriber, create_subscribers, subscriber_columns
from rundbrief.audience.ledger_batch import EventRow, append_events, prepare_event
from rundbrief.audience.models import ConsentEvent, ConsentText, Subscriber, Suppression
from rundbrief.db.bulk import bulk_cursor, datetime_adapters, insert_rows, max_params
from rundbrief.newsroom.models import Topic

SEEN_TABLE = "rundbrief_import_seen"
SQLITE_CACHE_KIB = 64 * 1024
IN_BATCH = 10_000  # values per `IN (…)` at most, and never more than the backend's parameter limit


def _select_in(sql_prefix, values):
    """Rows of `sql_prefix IN (…)` for every batch of values."""
    found = []
    size = min(IN_BATCH, max_params())
    cursor, mark = bulk_cursor()
    with connection.wrap_database_errors, closing(cursor):
        for start in range(0, len(values), size):
            batch = values[start : start + size]
            cursor.execute(f"{sql_prefix} IN ({', '.join([mark] * len(batch))})", batch)
            found.extend(cursor.fetchall())
    return found


def _column_query(model, select, where):
    qn = connection.ops.quote_name
    meta = model._meta
    columns = ", ".join(qn(meta.get_field(name).column) for name in select)
    return f"SELECT {columns} FROM {qn(meta.db_table)} WHERE {qn(meta.get_field(where).column)}"


class ChunkWriter:
    def __init__(
        self, summary, rejects, *, source_prefix, send_confirmation=False, rows_per_transaction=1, consent_basis=""
    ):
        self.summary = summary
        self.rows_per_transaction = rows_per_transaction
        self.transaction, self.transaction_rows = None, 0
        self.rejects = rejects
        self.source_prefix = source_prefix
        self.send_confirmation = send_confirmation
        # GDPR Art. 7(1): where a row has no consent time, the operator's statement is its evidence.
        self.basis_part = f" consent_basis={consent_basis}" if consent_basis else ""
        self.topic_ids = dict(Topic.objects.values_list("slug", "pk"))
        self.subscriber_fields, self.subscriber_defaults = subscriber_columns()
        self.attributes_at = self.subscriber_fields.index("attributes")
        self.attributes_field = Subscriber._meta.get_field("attributes")
        self.sqlite_cache_size = None
        self.adapters = datetime_adapters()  # made here, on the connection's thread; used by prepare()
        self.source_memo = {}  # used by prepare() only, so by one thread

    # -- the temporary table of addresses seen in this file (duplicates across chunks) --------

    def open(self):
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self._temp_schema()}.{SEEN_TABLE}")
            # Keyed by the first 63 bits of the subject hash: an integer key is far cheaper to index than
            # the hex string, and a collision (p < 1e-9 for a million rows) only sends a row to the rejects.
            # SQLite: exactly `integer PRIMARY KEY` makes the key the rowid, one B-tree instead of two.
            key_type = "integer" if connection.vendor == "sqlite" else "bigint"
            cursor.execute(f"CREATE TEMPORARY TABLE {SEEN_TABLE} (subject {key_type} PRIMARY KEY, line integer)")
            if connection.vendor == "sqlite":
                # A chunk touches pages all over the random-key indexes; keep them cached (default: 2 MB).
                cursor.execute("PRAGMA cache_size")
                self.sqlite_cache_size = cursor.fetchone()[0]
                cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")

    @staticmethod
    def _temp_schema():
        # Qualified, so a DROP can only ever hit our temporary table.
        return "pg_temp" if connection.vendor == "postgresql" else "temp"

    def close(self):
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self._temp_schema()}.{SEEN_TABLE}")
            if connection.vendor == "sqlite" and self.sqlite_cache_size is not None:
                cursor.execute(f"PRAGMA cache_size = {int(self.sqlite_cache_size)}")

    def _first_occurrences(self, chunk):
        """Rows whose address appears here for the first time in the file; the others are rejected."""
        first_line, candidates = {}, []
        for row, fields in chunk:
            key = row.key
            if key in first_line:
                self.rejects.add(row.line, f"duplicate: the address is already on line {first_line[key]}", fields)
            else:
                first_line[key] = row.line
                candidates.append((key, row, fields))
        earlier = dict(_select_in(f"SELECT subject, line FROM {SEEN_TABLE} WHERE subject", list(first_line)))
        rows = []
        for key, row, fields in candidates:
            if key in earlier:
                self.rejects.add(row.line, f"duplicate: the address is already on line {earlier[key]}", fields)
            else:
                rows.append(row)
        new = [(key, first_line[key]) for key, _row, _fields in candidates if key not in earlier]
        insert_rows(SEEN_TABLE, ["subject", "line"], new)
        return rows

    # -- transactions spanning several chunks ---------------------------------------------------

    def begin(self):
        if self.transaction is None:
            self.transaction, self.transaction_rows = transaction.atomic(), 0
            self.transaction.__enter__()

    def commit(self):
        if self.transaction is not None:
            self.transaction, atomic = None, self.transaction
            atomic.__exit__(None, None, None)

    def rollback(self, exc):
        if self.transaction is not None:
            self.transaction, atomic = None, self.transaction
            atomic.__exit__(type(exc), exc, exc.__traceback__)

    def write(self, chunk):
        """Write one chunk in the open transaction (begun if needed); commit once it holds rows_per_transaction."""
        if not chunk:
            return
        self.begin()
        try:
            self._write(chunk)
        except BaseException as exc:
            self.rollback(exc)
            raise
        self.transaction_rows += len(chunk)
        if self.transaction_rows >= self.rows_per_transaction:
            self.commit()

    def prepare(self, rows):
        """Per row, what writing needs and the database does not: the subscriber's column values but its
        id, and its `imported` ledger event but its place in the chain. Runs in the parsing thread (it
        touches no connection), one chunk ahead of write(). Rows later found to be duplicates, suppressed
        or known are prepared for nothing; that is cheaper than a second pass."""
        if not rows:
            return
        now = timezone.now()
        adapt = self.adapters()
        confirmed, pending = Subscriber.Status.CONFIRMED, Subscriber.Status.PENDING
        # models.new_public_id and the evidence salts (secrets.token_hex(16) each) for every row from two
        # reads of the OS's random source: 128 bits each, without a system call per row.
        public_ids = os.urandom(16 * len(rows)).hex()
        salts = os.urandom(16 * len(rows)).hex()
        defaults = self.subscriber_defaults
        for index, row in enumerate(rows):
            if row.suppress:
                row.key = int(row.subject[:16], 16) >> 1
                row.event = prepare_event(
                    EventRow(
                        ConsentEvent.Kind.SUPPRESSED, row.subject, source=self._suppress_source(row), occurred_at=now
                    )
                )
                continue
            if row.confirmed_at:
                status, requested_at = confirmed, row.consented_at or row.confirmed_at
            else:
                # requested now: an unconfirmed import is purged after RUNDBRIEF_UNCONFIRMED_DAYS like any request
                status, requested_at = pending, now
            row.key = int(row.subject[:16], 16) >> 1
            row.values = (
                row.email,
                public_ids[32 * index : 32 * index + 32],
                status,
                row.language,
                adapt(requested_at),
                adapt(row.confirmed_at),
                "",  # confirm_nonce: an import mails nobody
                None,  # last_confirmation_mail_at
                *defaults,
            )
            if row.attributes:  # the typed attributes the file's columns named (import_rows.py)
                values = list(row.values)
                values[self.attributes_at] = self.attributes_field.get_db_prep_save(row.attributes, connection)
                row.values = tuple(values)
            text = row.consent_text
            row.event = prepare_event(
                EventRow(
                    ConsentEvent.Kind.IMPORTED,
                    row.subject,
                    consent_text_id=text.pk if text else None,
                    consent_text_sha256=text.sha256 if text else "",
                    topics=row.topics,
                    source=self._source(row),
                    occurred_at=now,
                    ip=row.ip,
                    # The evidence row has one IP field; the confirmation's IP goes into its second, labelled,
                    # so it too is erasable and committed to by the chain, never in the chained source text.
                    user_agent=f"confirm_ip={row.confirm_ip}" if row.confirm_ip else "",
                ),
                salts[32 * index : 32 * index + 32],
            )

    def _write(self, chunk):
        if chunk and chunk[0][0].event is None:  # a caller that did not prepare in a thread of its own
            self.prepare([row for row, _fields in chunk])
        rows = self._first_occurrences(chunk)
        suppressed = {
            h
            for (h,) in _select_in(
                _column_query(Suppression, ["address_hash"], "address_hash"), [row.subject for row in rows]
            )
        }
        bulk, mailed, suppress = [], [], []
        for row in rows:
            if row.suppress:
                if row.subject in suppressed:
                    self.summary.unchanged += 1  # already on the list: a second run adds nothing
                else:
                    suppress.append(row)
            elif row.subject in suppressed:
                self.summary.suppressed += 1
            elif row.confirmed_at is None and self.send_confirmation:
                mailed.append(row)
            else:
                bulk.append(row)
        self._create(bulk)
        self._suppress(suppress)
        if not mailed:
            return
        known = {e for (e,) in _select_in(_column_query(Subscriber, ["email"], "email"), [r.email for r in mailed])}
        for row in mailed:
            if row.email in known:
                self.summary.unchanged += 1  # never overwritten: the import must not undo a withdrawal
                continue
            # The form's double opt-in, mail sent after this transaction commits (UWG §7(2) Nr. 2).
            text = row.consent_text or ConsentText.current(row.language)
            actions.request_subscription(
                row.email,
                consent_text=text,
                topics=row.topics,
                source=row.event.source,
                ip=row.ip,
                language=row.language,
            )
            self.summary.pending += 1

    def _suppress(self, rows):
        """Members another tool lists as unsubscribed, bounced or complained: a Suppression each (the
        address's keyed hash and the reason) and a `suppressed` ledger event, never a subscriber. A
        subscriber already here with that address stays as they are, but is no longer mailed."""
        if not rows:
            return
        known = dict(_select_in(_column_query(Subscriber, ["email", "id"], "email"), [r.email for r in rows]))
        now = self.adapters()(timezone.now())
        insert_rows(
            Suppression,
            ["address_hash", "reason", "created_at"],
            [(row.subject, row.suppress, now) for row in rows],
            skip_conflicts_on="address_hash",
        )
        for row in rows:
            row.event.subscriber_id = known.get(row.email)
        append_events([row.event for row in rows])
        self.summary.suppression_added += len(rows)

    def _suppress_source(self, row):
        """`import:TOOL:FILE:LINE reason=… at=…`: why and since when, as the other tool recorded it."""
        at = f" at={row.suppress_time.astimezone(UTC).isoformat()}" if row.suppress_time else ""
        return f"{self.source_prefix}:{row.line} reason={row.suppress}{at}"

    def _source(self, row):
        """`import:FILE:LINE source=… consented_at=… confirmed_at=…` (the parts that are given)."""
        key = (row.source, row.consented_at, row.confirmed_at, row.basis)
        rest = self.source_memo.get(key)
        if rest is None:
            parts = [""]
            if row.source:
                parts.append(f"source={row.source}")
            if row.consented_at:
                parts.append(f"consented_at={row.consented_at.astimezone(UTC).isoformat()}")
            if row.confirmed_at:
                parts.append(f"confirmed_at={row.confirmed_at.astimezone(UTC).isoformat()}")
            if row.basis:
                parts.append(self.basis_part.lstrip())
            if len(self.source_memo) >= 10_000:  # most files repeat a few combinations; bounded for the rest
                self.source_memo.clear()
            rest = self.source_memo[key] = " ".join(parts)
        return f"{self.source_prefix}:{row.line}{rest}"

    def _create(self, rows):
        """New subscribers, their topics and one `imported` ledger event each, in bulk
        (enrolment.create_subscribers, the same writer as the sign-ups').

        An address already in the database is left exactly as it is (counted unchanged; an import must
        not undo a withdrawal, GDPR Art. 7(3)). The INSERT itself finds them — `ON CONFLICT (email) DO
        NOTHING` — so the unique index on the address is searched once per row, not twice.
        """
        if not rows:
            return
        topic_ids = self.topic_ids
        new = [NewSubscriber(row.values, tuple(topic_ids[slug] for slug in row.topics), row.event) for row in rows]
        ids = create_subscribers(new, self.subscriber_fields)
        self.summary.unchanged += len(rows) - len(ids)
        for row in rows:
            if row.email not in ids:
                continue
            if row.confirmed_at:
                self.summary.confirmed += 1
            else:
                self.summary.pending += 1
