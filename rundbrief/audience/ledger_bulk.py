"""Appending many consent events at once, for the subscriber import (issue 3, "Import and API").

The same chain as rundbrief.audience.ledger.append_event (GDPR Art. 7(1): proof),
written in bulk: the chain is locked once, each event's hash is computed from
the one before, and rows go in with one executemany per table instead of one
INSERT per event. `canonical_fast` must produce exactly the bytes of
ledger.canonical for the chained payload; tests/test_import_subscribers.py
checks that against the ledger's own functions and with `verify_chain`.
"""

import hashlib
import json
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC
from itertools import chain

from django.db import connection

from rundbrief.audience import ledger
from rundbrief.audience.models import ConsentEvent, ConsentEvidence

# Rows per INSERT statement at most: larger statements gained nothing measurable on SQLite.
MAX_ROWS_PER_INSERT = 1000
# C-accelerated JSON string encoder with ensure_ascii=False, as ledger.canonical uses.
_json_str = json.encoder.encode_basestring


@dataclass(slots=True)
class EventRow:
    """One event to append; attribute names match ConsentEvent so ledger.chained_payload can read it."""

    kind: str
    subject_hash: str
    subscriber_id: int | None = None
    consent_text_id: int | None = None
    consent_text_sha256: str = ""
    topics: tuple = ()
    source: str = ""
    occurred_at: object = None
    message_id: str = ""
    ip: str = ""
    user_agent: str = ""
    evidence_commitment: str = ""
    salt: str = ""
    prev_hash: str = ""
    hash: str = ""


def canonical_fast(event: EventRow) -> bytes:
    """ledger.canonical(ledger.chained_payload(event)), without building a dict: keys in sorted order.

    An import's events differ only in subject, source and commitment; the other fragments are
    built once per distinct value (bounded memo).
    """
    key = (event.consent_text_id, event.consent_text_sha256)
    head = _HEADS.get(key)
    if head is None:
        ct_id = "null" if event.consent_text_id is None else str(int(event.consent_text_id))
        head = _remember(_HEADS, key, f'{{"consent_text_id":{ct_id},"consent_text_sha256":'
                              f'{_json_str(event.consent_text_sha256)},"evidence_commitment":')  # fmt: skip
    key = (event.kind, event.message_id, event.occurred_at)
    middle = _MIDDLES.get(key)
    if middle is None:
        middle = _remember(_MIDDLES, key, f',"kind":{_json_str(event.kind)},"message_id":{_json_str(event.message_id)},'
                                f'"occurred_at":{_json_str(_utc_iso(event.occurred_at))},"source":')  # fmt: skip
    tail = _TAILS.get(event.topics)
    if tail is None:
        tail = _remember(_TAILS, event.topics, f',"topics":[{",".join(_json_str(t) for t in event.topics)}]}}')
    return (
        f"{head}{_json_str(event.evidence_commitment)}{middle}{_json_str(event.source)}"
        f',"subject_hash":{_json_str(event.subject_hash)}{tail}'
    ).encode("utf-8")


_HEADS, _MIDDLES, _TAILS = {}, {}, {}


def _remember(memo, key, fragment):
    if len(memo) > 10_000:
        memo.clear()
    memo[key] = fragment
    return fragment


def evidence_commitment_fast(ip: str, user_agent: str, salt: str) -> str:
    """ledger.evidence_commitment, with the same canonical bytes."""
    body = f'{{"ip":{_json_str(ip)},"salt":{_json_str(salt)},"user_agent":{_json_str(user_agent)}}}'
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def datetime_adapter():
    """connection.ops.adapt_datetimefield_value, fast for SQLite (naive UTC text, as Django stores it).

    Memoised: most times in a chunk are the same few (its `now`, a file's common consent dates).
    Make a new adapter per chunk so the memo stays small.
    """
    if connection.vendor != "sqlite":
        return connection.ops.adapt_datetimefield_value
    memo = {None: None}

    def adapt(value):
        text = memo.get(value)
        if text is None and value is not None:
            text = memo[value] = str(value.astimezone(UTC).replace(tzinfo=None))
        return text

    return adapt


def _utc_iso(value, memo={}):  # noqa: B006 (a small cache of the few distinct event times)
    text = memo.get(value)
    if text is None:
        if len(memo) > 10_000:
            memo.clear()
        text = memo[value] = value.astimezone(UTC).isoformat(timespec="microseconds")
    return text


def insert_rows(table, fields, rows):
    """Plain multi-row INSERTs into a model's table (or a table named by a string): no model instances,
    values already in database form.

    `INSERT … VALUES (…), (…), …` with as many rows as the backend's parameter limit allows:
    one statement step per few thousand rows instead of one per row (on SQLite also one
    AUTOINCREMENT bookkeeping write per statement instead of one per row).
    """
    if not rows:
        return
    qn = connection.ops.quote_name
    if isinstance(table, str):  # a table of our own (the import's temporary one): columns as named
        columns, name = ", ".join(map(qn, fields)), qn(table)
    else:  # a model: field names
        columns, name = ", ".join(qn(table._meta.get_field(f).column) for f in fields), qn(table._meta.db_table)
    head = f"INSERT INTO {name} ({columns}) VALUES "
    cursor, mark = bulk_cursor()
    one = "(" + ", ".join([mark] * len(fields)) + ")"
    per_statement = max(1, min(MAX_ROWS_PER_INSERT, max_params() // len(fields)))
    full_sql = None
    with connection.wrap_database_errors, closing(cursor):
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            if len(batch) == per_statement:
                full_sql = full_sql or head + ", ".join([one] * per_statement)
                sql = full_sql
            else:
                sql = head + ", ".join([one] * len(batch))
            cursor.execute(sql, list(chain.from_iterable(batch)))


def bulk_cursor():
    """(cursor, placeholder) for statements with thousands of parameters.

    SQLite: the driver's own cursor with `?`. Django's cursor would rewrite `%s` to `?` with a
    regular expression over the whole statement on every call (a tenth of the writing time).
    Use it inside `connection.wrap_database_errors` so errors still arrive as django.db errors.
    """
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return connection.connection.cursor(), "?"
    return connection.cursor(), "%s"


def max_params():
    """Host parameters one statement may carry on this connection."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        # The compiled-in limit (32,766 since SQLite 3.32; Django assumes the old 999).
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return 65_535  # PostgreSQL's wire protocol counts parameters in 16 bits


def _lock_and_tip():
    """Serialise with ledger.append_event and return (last id, last hash) of the chain."""
    ledger._lock_chain()  # the same lock the one-at-a-time path takes
    return ledger.chain_tip()


def append_events(events: list[EventRow]) -> None:
    """Append `events` to the chain in list order. Call inside transaction.atomic()."""
    if not events:
        return
    last_id, prev_hash = _lock_and_tip()
    adapt_dt = datetime_adapter()
    topics_field = ConsentEvent._meta.get_field("topics")
    json_cache = {}
    rows = []
    # One read of the OS's random source for every salt (secrets.token_hex(16) each, as
    # ledger.append_event draws them), instead of a system call per event.
    salts = os.urandom(16 * len(events)).hex()
    for index, event in enumerate(events):
        event.topics = tuple(sorted(event.topics))  # as append_event stores them
        event.user_agent = event.user_agent[:300]
        event.source = event.source[:300]
        if event.ip or event.user_agent:
            event.salt = salts[32 * index : 32 * index + 32]
            event.evidence_commitment = evidence_commitment_fast(event.ip, event.user_agent, event.salt)
        event.prev_hash = prev_hash
        event.hash = prev_hash = hashlib.sha256(prev_hash.encode("ascii") + canonical_fast(event)).hexdigest()
        topics = json_cache.get(event.topics)
        if topics is None:
            topics = json_cache[event.topics] = topics_field.get_db_prep_save(list(event.topics), connection)
        rows.append((event.subscriber_id, event.kind, event.subject_hash, event.consent_text_id,
                     event.consent_text_sha256, topics, event.source, adapt_dt(event.occurred_at),
                     event.message_id, event.evidence_commitment, event.prev_hash, event.hash))  # fmt: skip
    insert_rows(ConsentEvent, EVENT_FIELDS, rows)
    with_evidence = [event for event in events if event.salt]
    if not with_evidence:
        return
    # Under the chain lock nobody else appends, so the new ids are the ones after last_id, in order.
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(ConsentEvent._meta.db_table)
        cursor.execute(f"SELECT id, hash FROM {table} WHERE id > %s ORDER BY id", [last_id])
        ids = {row_hash: pk for pk, row_hash in cursor.fetchall()}
    insert_rows(ConsentEvidence, ["event", "ip", "user_agent", "salt"],
                [(ids[e.hash], e.ip, e.user_agent, e.salt) for e in with_evidence])  # fmt: skip


EVENT_FIELDS = [
    "subscriber", "kind", "subject_hash", "consent_text", "consent_text_sha256", "topics", "source",
    "occurred_at", "message_id", "evidence_commitment", "prev_hash", "hash",
]  # fmt: skip
