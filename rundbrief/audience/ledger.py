"""The consent ledger: an append-only hash chain of ConsentEvent rows (GDPR Art. 7(1): proof of consent).

hash = SHA-256(prev_hash ‖ canonical JSON of the chained payload). The payload
holds no personal data: the subject is the keyed subject_hash, and IP and user
agent enter only as a salted commitment whose inputs live in ConsentEvidence,
which erasure may delete (docs/decisions.md, "Consent ledger and erasure").
"""

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC

from django.db import connection, transaction
from django.utils import timezone

from rundbrief.audience.addresses import truncate_ip
from rundbrief.audience.models import ConsentEvent, ConsentEvidence, ConsentText
from rundbrief.db.bulk import insert_one

GENESIS = "0" * 64
# Any fixed number: the advisory lock that serialises appends on PostgreSQL.
ADVISORY_LOCK_ID = 0x52424C47  # "RBLG"


def canonical(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chained_payload(event: ConsentEvent) -> dict:
    return {
        "kind": event.kind,
        "subject_hash": event.subject_hash,
        "consent_text_id": event.consent_text_id,
        "consent_text_sha256": event.consent_text_sha256,
        "topics": list(event.topics),
        "source": event.source,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "message_id": event.message_id,
        "evidence_commitment": event.evidence_commitment,
    }


def chain_hash(prev_hash: str, payload: dict) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(payload)).hexdigest()


def evidence_commitment(ip: str, user_agent: str, salt: str) -> str:
    return hashlib.sha256(canonical({"ip": ip, "salt": salt, "user_agent": user_agent})).hexdigest()


def _lock_chain():
    # SQLite: settings open every transaction with BEGIN IMMEDIATE, so writers are already serial.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_ID])


def append_event(
    kind,
    *,
    subject_hash,
    subscriber=None,
    consent_text=None,
    topics=(),
    source="",
    ip="",
    user_agent="",
    message_id="",
    occurred_at=None,
):
    """Append one event to the chain; IP and user agent go to the erasable evidence row."""
    with transaction.atomic(savepoint=False):  # inside an action's transaction: no savepoint of its own
        _lock_chain()
        _last_id, prev_hash = chain_tip()
        event = ConsentEvent(
            kind=kind,
            subscriber=subscriber,
            subject_hash=subject_hash,
            consent_text=consent_text,
            consent_text_sha256=consent_text.sha256 if consent_text else "",
            topics=sorted(topics),
            source=source[:300],
            occurred_at=occurred_at or timezone.now(),
            message_id=message_id,
            prev_hash=prev_hash,
        )
        ip = truncate_ip(ip)  # GDPR Art. 5(1)(c): /24 or /48 unless RUNDBRIEF_STORE_FULL_IP
        user_agent = (user_agent or "")[:300]
        salt = secrets.token_hex(16) if (ip or user_agent) else ""
        if salt:
            event.evidence_commitment = evidence_commitment(ip, user_agent, salt)
        event.hash = chain_hash(prev_hash, chained_payload(event))
        # Without the ORM's statement compiler: every sign-up appends an event while holding SQLite's
        # write lock, and compiling took longer than the INSERT (docs/benchmarks.md, sign-up).
        insert_one(event)
        if salt:
            insert_one(ConsentEvidence(event=event, ip=ip, user_agent=user_agent, salt=salt))
        return event


def chain_tip():
    """(id, hash) of the last event, or (0, GENESIS); call under _lock_chain(). Plain SQL: it runs
    for every event appended, inside the write lock."""
    table = connection.ops.quote_name(ConsentEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, hash FROM {table} ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
    return tuple(row) if row else (0, GENESIS)


@dataclass
class ChainReport:
    count: int
    broken_event_id: int | None = None
    reason: str = ""

    @property
    def intact(self):
        return self.broken_event_id is None


def verify_events(event_ids) -> ChainReport:
    """Check only the given events: each one's hash over its content, its evidence commitment, and its
    links to the events right before and after it in the chain.

    What a proof needs, in a few indexed reads instead of a pass over the whole ledger (seconds at
    100,000 events: a proof page must not be a cheap way to tie up the server). Changing one of these
    events breaks its hash or, if the hash was recomputed, the next event's `prev_hash`; removing one
    breaks the link between its neighbours. `rundbrief consent verify` still walks the whole chain.
    """
    events = ConsentEvent.objects.filter(pk__in=list(event_ids)).select_related("evidence").order_by("pk")
    count = 0
    for event in events:
        count += 1
        if chain_hash(event.prev_hash, chained_payload(event)) != event.hash:
            return ChainReport(count, event.pk, "hash does not match the event's content")
        evidence = getattr(event, "evidence", None)  # None once erased
        if evidence is not None:
            if evidence_commitment(evidence.ip, evidence.user_agent, evidence.salt) != event.evidence_commitment:
                return ChainReport(count, event.pk, "IP or user agent differ from what the event committed to")
        before = ConsentEvent.objects.filter(pk__lt=event.pk).order_by("-pk").values_list("hash", flat=True).first()
        if event.prev_hash != (before or GENESIS):
            return ChainReport(count, event.pk, "prev_hash does not match the previous event (missing or reordered)")
        after = ConsentEvent.objects.filter(pk__gt=event.pk).order_by("pk").values_list("prev_hash", flat=True).first()
        if after is not None and after != event.hash:
            return ChainReport(count, event.pk, "the next event does not link to this one (changed or removed)")
    return ChainReport(count)


def consent_text_problems() -> list[str]:
    """Each consent text's wording re-hashed: an edited text no longer matches the SHA-256 it was
    stored with, nor the one its events committed to (the proof would show new words beside the old hash)."""
    problems = []
    digests = {}
    for text in ConsentText.objects.all():
        digests[text.pk] = ConsentText.digest(text.text)
        if digests[text.pk] != text.sha256:
            problems.append(f"consent text {text.language} v{text.version}: its wording does not match its SHA-256")
    used = ConsentEvent.objects.exclude(consent_text=None).values_list("consent_text_id", "consent_text_sha256")
    for text_id, committed in used.distinct():
        if digests.get(text_id) != committed:
            problems.append(f"consent text {text_id}: its wording does not match the SHA-256 its events committed to")
    return problems


def verify_chain() -> ChainReport:
    """Recompute every link in order; report the first event whose link or evidence does not match."""
    prev_hash = GENESIS
    count = 0
    events = ConsentEvent.objects.select_related("evidence").order_by("pk")
    for event in events.iterator(chunk_size=2000):
        count += 1
        if event.prev_hash != prev_hash:
            return ChainReport(count, event.pk, "prev_hash does not match the previous event (missing or reordered)")
        if chain_hash(prev_hash, chained_payload(event)) != event.hash:
            return ChainReport(count, event.pk, "hash does not match the event's content")
        evidence = getattr(event, "evidence", None)  # None once erased
        if evidence is not None:
            if evidence_commitment(evidence.ip, evidence.user_agent, evidence.salt) != event.evidence_commitment:
                return ChainReport(count, event.pk, "IP or user agent differ from what the event committed to")
        prev_hash = event.hash
    return ChainReport(count)
