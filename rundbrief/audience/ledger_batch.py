"""Appending many consent events at once: the sign-up intake's batches and the subscriber import.

The same chain as rundbrief.audience.ledger.append_event (GDPR Art. 7(1): proof),
written in bulk in two steps. `prepare_event` needs no database and runs in the
import's parsing thread: it draws the salt, commits to the evidence and builds the
event's canonical bytes, which do not depend on the chain. `append_events` then
locks the chain once, computes each event's hash from the one before (one SHA-256
per event) and inserts the rows with multi-row INSERTs. `canonical_fast` must
produce exactly the bytes of ledger.canonical for the chained payload;
tests/test_import_subscribers.py checks that against the ledger's own functions and
with `verify_chain`. The SQL underneath is generic: rundbrief/db/bulk.py.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC

from django.db import connection

from rundbrief.audience import ledger
from rundbrief.audience.models import ConsentEvent, ConsentEvidence
from rundbrief.db.bulk import datetime_adapter, insert_rows, rows_after

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
    canonical: bytes = b""  # set by prepare_event: the chained payload as ledger.canonical encodes it


def canonical_fast(event: EventRow) -> bytes:
    """ledger.canonical(ledger.chained_payload(event)), without building a dict: keys in sorted order.

    An import's events differ only in subject, source and commitment; the other fragments are
    built once per distinct value (bounded memo).
    """
    key = (event.consent_text_id, event.consent_text_sha256)
    head = _HEADS.get(key)
    if head is None:
        ct_id = "null" if event.consent_text_id is None else str(int(event.consent_text_id))
        head = _remember(
            _HEADS,
            key,
            f'{{"consent_text_id":{ct_id},"consent_text_sha256":'
            f'{_json_str(event.consent_text_sha256)},"evidence_commitment":',
        )
    key = (event.kind, event.message_id, event.occurred_at)
    middle = _MIDDLES.get(key)
    if middle is None:
        middle = _remember(
            _MIDDLES,
            key,
            f',"kind":{_json_str(event.kind)},"message_id":{_json_str(event.message_id)},'
            f'"occurred_at":{_json_str(_utc_iso(event.occurred_at))},"source":',
        )
    tail = _TAILS.get(event.topics)
    if tail is None:
        tail = _remember(_TAILS, event.topics, f',"topics":[{",".join(_json_str(t) for t in event.topics)}]}}')
    return (
        f"{head}{_json_str(event.evidence_commitment)}{middle}{_json_str(event.source)}"
        f',"subject_hash":{_json_str(event.subject_hash)}{tail}'
    ).encode()


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


def _utc_iso(value, memo={}):  # noqa: B006 (a small cache of the few distinct event times)
    text = memo.get(value)
    if text is None:
        if len(memo) > 10_000:
            memo.clear()
        text = memo[value] = value.astimezone(UTC).isoformat(timespec="microseconds")
    return text


def _lock_and_tip():
    """Serialise with ledger.append_event and return (last id, last hash) of the chain."""
    ledger._lock_chain()  # the same lock the one-at-a-time path takes
    return ledger.chain_tip()


def prepare_event(event: EventRow, salt: str = "") -> EventRow:
    """Everything of the event that does not depend on the chain; no database access, so it may run in
    another thread. `salt`: 32 hex digits (secrets.token_hex(16), as ledger.append_event draws them),
    used if the event carries an IP or user agent."""
    event.topics = tuple(sorted(event.topics))  # as append_event stores them
    event.user_agent = event.user_agent[:300]
    event.source = event.source[:300]
    if event.ip or event.user_agent:
        event.salt = salt or os.urandom(16).hex()
        event.evidence_commitment = evidence_commitment_fast(event.ip, event.user_agent, event.salt)
    event.canonical = canonical_fast(event)
    return event


def append_events(events: list[EventRow]) -> None:
    """Append `events` to the chain in list order. Call inside transaction.atomic(); events that were
    not passed through prepare_event are prepared here."""
    if not events:
        return
    salts = None
    for index, event in enumerate(events):
        if not event.canonical:
            # One read of the OS's random source for every salt instead of a system call per event.
            salts = salts or os.urandom(16 * len(events)).hex()
            prepare_event(event, salts[32 * index : 32 * index + 32])
    last_id, prev_hash = _lock_and_tip()
    adapt_dt = datetime_adapter()
    topics_field = ConsentEvent._meta.get_field("topics")
    json_cache = {}
    rows = []
    sha256 = hashlib.sha256
    for event in events:
        # GDPR Art. 7(1): each imported person keeps an event of their own in the chain.
        event.prev_hash = prev_hash
        event.hash = prev_hash = sha256(prev_hash.encode("ascii") + event.canonical).hexdigest()
        topics = json_cache.get(event.topics)
        if topics is None:
            topics = json_cache[event.topics] = topics_field.get_db_prep_save(list(event.topics), connection)
        rows.append(
            (
                event.subscriber_id,
                event.kind,
                event.subject_hash,
                event.consent_text_id,
                event.consent_text_sha256,
                topics,
                event.source,
                adapt_dt(event.occurred_at),
                event.message_id,
                event.evidence_commitment,
                event.prev_hash,
                event.hash,
            )
        )
    insert_rows(ConsentEvent, EVENT_FIELDS, rows)
    with_evidence = [event for event in events if event.salt]
    if not with_evidence:
        return
    # Under the chain lock nobody else appends, so the new ids are the ones after last_id. Matched by
    # hash, not by position: nothing promises that a multi-row INSERT numbers its rows in order.
    ids = {row_hash: pk for pk, row_hash in rows_after(ConsentEvent, last_id, ["id", "hash"])}
    insert_rows(
        ConsentEvidence,
        ["event", "ip", "user_agent", "salt"],
        [(ids[e.hash], e.ip, e.user_agent, e.salt) for e in with_evidence],
    )


EVENT_FIELDS = [
    "subscriber",
    "kind",
    "subject_hash",
    "consent_text",
    "consent_text_sha256",
    "topics",
    "source",
    "occurred_at",
    "message_id",
    "evidence_commitment",
    "prev_hash",
    "hash",
]
