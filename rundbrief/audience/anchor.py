"""Anchoring the consent ledger outside the database: its head (how many events, the last one's id
and hash, when) written where the operator chooses, so that a truncation — the newest events deleted,
which leaves no later hash to contradict it — or a rewritten chain shows against the last anchor.

`rundbrief consent anchor` appends one JSON line to RUNDBRIEF_LEDGER_ANCHOR_FILE (or `--file`); the
delivery workers do the same once a day (ops/worker.py), or log the line when no file is set, so it
lands in the journal. `rundbrief consent verify` compares the ledger with the file's last line. The
file holds hashes and counts only, no personal data; keep a copy off the database host.
"""

import json
import os
from dataclasses import asdict, dataclass

from django.utils import timezone

from rundbrief.audience.ledger import chain_tip
from rundbrief.audience.models import ConsentEvent


@dataclass
class Anchor:
    count: int
    head_id: int
    head_hash: str
    at: str


def current_anchor() -> Anchor:
    head_id, head_hash = chain_tip()
    return Anchor(ConsentEvent.objects.count(), head_id, head_hash, timezone.now().isoformat())


def write_anchor(path) -> Anchor:
    anchor = current_anchor()
    # O_APPEND: one whole line per anchor, never an overwritten history; no symlink followed.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
    with open(fd, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(anchor)) + "\n")
    return anchor


def last_anchor(path) -> Anchor | None:
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [line for line in fh if line.strip()]
    except FileNotFoundError:
        return None
    return Anchor(**json.loads(lines[-1])) if lines else None


def check_against(anchor: Anchor) -> str:
    """ "" when the ledger still holds the anchored head at the anchored position, else what is wrong."""
    head = ConsentEvent.objects.filter(pk=anchor.head_id).values_list("hash", flat=True).first()
    if head is None:
        return (
            f"truncated: the anchor of {anchor.at} names event {anchor.head_id} "
            f"({anchor.count} events), which is no longer in the ledger"
        )
    if head != anchor.head_hash:
        return f"rewritten: event {anchor.head_id} no longer has the hash anchored at {anchor.at}"
    before = ConsentEvent.objects.filter(pk__lte=anchor.head_id).count()
    if before != anchor.count:
        return f"events removed: {before} events up to {anchor.head_id}, {anchor.count} anchored at {anchor.at}"
    return ""
