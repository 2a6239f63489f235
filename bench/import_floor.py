"""The SQL floor of the subscriber import: what the rows of one imported person cost SQLite
with no Python work at all, per ledger design. docs/decisions.md ("The subscriber import keeps one
ledger event per person") rests on these figures.

    .venv/bin/python bench/import_floor.py --rows 100000 --runs 3

Builds the schema with `migrate` in a temporary folder, then for each design inserts ready-made rows
(1,000 per INSERT, one transaction per 10,000 rows, 64 MB page cache, as the import does) into a fresh
copy and prints the median CPU time per design, and last one line:

    import_floor: rows=N schema_cpu_s=… lean_cpu_s=… batch_cpu_s=… no_ledger_cpu_s=…

- schema: the tables as migrated (subscriber, two subscriptions, event, evidence);
- lean: the event's digests as 32-byte blobs and the evidence keyed by the rowid (not adopted);
- batch: one `imported` event per 10,000 rows and a compact per-row record (not adopted);
- no_ledger: subscriber and subscriptions only.
"""

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

CHUNK = 10_000
SOURCE = (
    "import:subscribers.csv:{} source=Shop-Checkout consented_at=2024-03-01T08:30:00+00:00 "
    "confirmed_at=2024-03-01T08:41:00+00:00"
)
EVENT_COLUMNS = (
    "subscriber_id, kind, subject_hash, consent_text_id, consent_text_sha256, topics, source, "
    "occurred_at, message_id, evidence_commitment, prev_hash, hash"
)
LEAN_DDL = """
DROP TRIGGER audience_consentevent_no_update; DROP TRIGGER audience_consentevent_no_delete;
DROP TABLE audience_consentevidence; DROP TABLE audience_consentevent;
CREATE TABLE audience_consentevent (id integer PRIMARY KEY AUTOINCREMENT, kind varchar(20) NOT NULL,
  subject_hash blob NOT NULL, consent_text_sha256 blob NOT NULL, topics text NOT NULL CHECK (JSON_VALID(topics)),
  source varchar(300) NOT NULL, occurred_at datetime NOT NULL, message_id varchar(200) NOT NULL,
  evidence_commitment blob NOT NULL, prev_hash blob NOT NULL, hash blob NOT NULL,
  consent_text_id bigint NULL REFERENCES audience_consenttext (id) DEFERRABLE INITIALLY DEFERRED,
  subscriber_id bigint NULL REFERENCES audience_subscriber (id) DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX event_subject ON audience_consentevent (subject_hash);
CREATE INDEX event_subscriber ON audience_consentevent (subscriber_id);
CREATE INDEX event_text ON audience_consentevent (consent_text_id);
CREATE TABLE audience_consentevidence (event_id integer PRIMARY KEY REFERENCES audience_consentevent (id)
  DEFERRABLE INITIALLY DEFERRED, ip varchar(45) NOT NULL, user_agent varchar(300) NOT NULL, salt blob NOT NULL);
"""
BATCH_DDL = (
    LEAN_DDL
    + """
CREATE TABLE import_record (id integer PRIMARY KEY, event_id integer NOT NULL, subject blob NOT NULL,
  subscriber_id integer, line integer NOT NULL, ip text NOT NULL, salt blob NOT NULL, digest blob NOT NULL);
CREATE INDEX import_record_subject ON import_record (subject);
CREATE INDEX import_record_subscriber ON import_record (subscriber_id);
"""
)


def migrated_schema(work):
    os.environ["RUNDBRIEF_VAR_DIR"] = str(work)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    path = Path(connection.settings_dict["NAME"])
    connection.close()
    return path


def insert(db, table, columns, rows, per=1000):
    per = min(per, 32_766 // len(columns))
    one = "(" + ", ".join("?" * len(columns)) + ")"
    for start in range(0, len(rows), per):
        batch = rows[start : start + per]
        db.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * len(batch))}",
            [value for row in batch for value in row],
        )


def chunks(rows, design, topics):
    """Ready-made rows per chunk of CHUNK people: (table, columns, rows) in the order the import writes."""
    for start in range(0, rows, CHUNK):
        ids = range(start + 1, min(rows, start + CHUNK) + 1)
        people = [
            (
                f"kunde.{i}@beispiel-{i % 997}.de",
                os.urandom(16).hex(),
                "confirmed",
                "de",
                "",
                None,
                "2024-03-01 08:30:00",
                "2024-03-01 08:41:00",
                None,
            )
            for i in ids
        ]
        yield [
            (
                "audience_subscriber",
                (
                    "email",
                    "public_id",
                    "status",
                    "language",
                    "confirm_nonce",
                    "last_confirmation_mail_at",
                    "requested_at",
                    "confirmed_at",
                    "withdrawn_at",
                ),
                people,
            ),
            (
                "audience_subscription",
                ("subscriber_id", "topic_id", "created_at"),
                [(i, t, "2026-11-29 20:00:00") for i in ids for t in topics],
            ),
        ] + ledger_rows(ids, design)


def ledger_rows(ids, design):
    if design == "no_ledger":
        return []
    if design == "batch":
        digest = os.urandom(32).hex()
        event = [
            (
                None,
                "imported",
                "",
                1,
                "ab" * 32,
                "[]",
                "import:subscribers.csv",
                "2026-11-29 20:00:00",
                "",
                digest,
                digest,
                digest,
            )
        ]
        records = [(ids[0], os.urandom(32), i, i, "203.0.113.0", os.urandom(16), os.urandom(32)) for i in ids]
        return [
            ("audience_consentevent", EVENT_COLUMNS.split(", "), event),
            ("import_record", ("event_id", "subject", "subscriber_id", "line", "ip", "salt", "digest"), records),
        ]
    digest = (lambda: os.urandom(32)) if design == "lean" else (lambda: os.urandom(32).hex())
    events = [
        (
            i,
            "imported",
            digest(),
            1,
            digest(),
            '["a","b"]',
            SOURCE.format(i),
            "2026-11-29 20:00:00.123456",
            "",
            digest(),
            digest(),
            digest(),
        )
        for i in ids
    ]
    salt = (lambda: os.urandom(16)) if design == "lean" else (lambda: os.urandom(16).hex())
    evidence = [(i, "203.0.113.0", "", salt()) for i in ids]
    return [
        ("audience_consentevent", EVENT_COLUMNS.split(", "), events),
        ("audience_consentevidence", ("event_id", "ip", "user_agent", "salt"), evidence),
    ]


def run(template, work, design, rows):
    path = work / f"{design}.sqlite3"
    shutil.copy(template, path)
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "cache_size=-65536"):
        db.execute(f"PRAGMA {pragma}")
    db.execute(
        "INSERT INTO newsroom_topic (name, slug, description, menu_position) "
        "VALUES ('a', 'floor-a', '', 0), ('b', 'floor-b', '', 1)"
    )
    topics = [pk for (pk,) in db.execute("SELECT id FROM newsroom_topic WHERE slug LIKE 'floor-%' ORDER BY id")]
    if design in ("lean", "batch"):
        db.executescript(LEAN_DDL if design == "lean" else BATCH_DDL)
    cpu = 0.0
    for statements in chunks(rows, design, topics):  # making the rows is not timed
        started = time.process_time()
        db.execute("BEGIN IMMEDIATE")
        for table, columns, values in statements:
            insert(db, table, columns, values)
        db.execute("COMMIT")
        cpu += time.process_time() - started
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rundbrief-bench-floor-"))
    template = migrated_schema(work)
    designs = ["schema", "lean", "batch", "no_ledger"]
    times = {design: [] for design in designs}
    try:
        for _ in range(args.runs):  # interleaved, so a busy moment of the machine hits every design
            for design in designs:
                times[design].append(run(template, work, design, args.rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for design in designs:
        print(f"{design}: " + " ".join(f"{t:.2f}" for t in times[design]), file=sys.stderr)
    medians = " ".join(f"{design}_cpu_s={statistics.median(times[design]):.2f}" for design in designs)
    print(f"import_floor: rows={args.rows} {medians}")


if __name__ == "__main__":
    main()
