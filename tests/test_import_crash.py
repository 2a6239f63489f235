"""An import killed at any moment loses nothing and doubles nothing: run again, every row is there once.

docs/cli.md promises that "an interrupted import can simply be run again". Here the import is a real
`rundbrief import-subscribers` process, killed with SIGKILL (no clean-up, no rollback by Python) while
it writes, on the suite's database (SQLite file or PostgreSQL).
"""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings

from rundbrief.audience import ledger
from rundbrief.audience.models import ConsentEvent, Subscriber
from tests.support.workers import database_url

pytestmark = pytest.mark.django_db(transaction=True)

ROWS, CHUNK = 30_000, 1_000
HEADER = "email,topics,consented_at,confirmed_at,source,ip,consent_text_version\n"


def write_file(path):
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEADER)
        for i in range(ROWS):
            confirmed = "2024-03-01T09:41:00+01:00" if i % 2 else ""
            fh.write(
                f"kunde{i}@example.de,finanznachrichten,2024-03-01T09:30:00+01:00,{confirmed},Messe,203.0.113.{i % 250},de:1\n"
            )


def import_command(path):
    return [sys.executable, "-m", "rundbrief", "import-subscribers", str(path), "--chunk-rows", str(CHUNK)]


def environment():
    return dict(
        os.environ,
        DATABASE_URL=database_url(),
        SECRET_KEY=django_settings.SECRET_KEY,
        RUNDBRIEF_VAR_DIR=str(django_settings.VAR_DIR),
        RUNDBRIEF_LOG_LEVEL="WARNING",
    )


def imported_events():
    return ConsentEvent.objects.filter(kind=ConsentEvent.Kind.IMPORTED)


def test_an_import_killed_while_writing_and_run_again_has_every_row_exactly_once(topics, tmp_path):
    path = tmp_path / "kunden.csv"
    write_file(path)
    process = subprocess.Popen(
        import_command(path),
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while Subscriber.objects.count() < CHUNK and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # its own process group: only what this test started
    process.wait()
    committed = Subscriber.objects.count()
    assert 0 < committed < ROWS, "the import was not caught while writing; the file must be larger"

    # What survived the kill is whole transactions: every subscriber with its one `imported` event.
    assert committed % CHUNK == 0
    assert imported_events().count() == committed
    assert ledger.verify_chain().intact

    result = subprocess.run(import_command(path), env=environment(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().startswith(
        f"imported: {(ROWS - committed) // 2} confirmed, {(ROWS - committed) // 2} pending, 0 suppressed-skipped, "
        f"{committed} unchanged, 0 rejected"
    ), result.stdout
    assert Subscriber.objects.count() == ROWS
    assert Subscriber.objects.filter(status=Subscriber.Status.CONFIRMED).count() == ROWS // 2
    # One `imported` event per person, none twice: the ledger is the proof, and a double would be a false one.
    events = imported_events()
    assert events.count() == ROWS and events.values("subscriber_id").distinct().count() == ROWS
    report = ledger.verify_chain()
    assert report.intact and report.count == ROWS
