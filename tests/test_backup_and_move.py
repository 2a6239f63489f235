"""Backups restore to a database whose ledger verifies; SQLite moves to PostgreSQL with nothing lost.

docs/operations.md, "Backups" and "Moving from SQLite to PostgreSQL".
"""

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection

from rundbrief.audience.ledger import verify_chain
from tests.support.postgres import HAVE_POSTGRES, ROOT, throwaway_cluster
from tests.support.readers import reader

RUNDBRIEF = [sys.executable, "-m", "rundbrief"]
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")

POPULATE = """
from django.conf import settings
from django.core.management import call_command
settings.RUNDBRIEF_SERVICE_MAIL_ASYNC = False
from rundbrief.audience import actions
from rundbrief.audience.models import Subscriber
from rundbrief.api.models import ApiToken
from tests.support.campaigns import make_audience, scheduled_campaign
from tests.support.readers import reader
from rundbrief.newsroom.models import Topic
from tests.support.smtp import SmtpServer
call_command("load-demo", verbosity=0)
topic = Topic.objects.get(slug="finanznachrichten")
# The sign-ups' confirmation mails stay in this process: unset, SMTP_URL is 127.0.0.1:1025, where a
# developer's `make run` may be capturing mail.
with SmtpServer() as capture:
    settings.SMTP_URL = capture.url
    for i in range(20):
        reader(f"leserin{i}@example.de", confirm=i % 4 != 0, withdraw=i % 5 == 0)
actions.erase_subscriber(Subscriber.objects.get(email="leserin3@example.de"), source="test")
make_audience(topic, 30, prefix="bulk")
scheduled_campaign([topic])
from rundbrief.db import windows
windows.grant("relay.example:587:0123456789abcdef", 3600, 1800000000, 10000, 28)
"""
STATE = """
import json
from rundbrief.audience.ledger import verify_chain
from rundbrief.ops.transfer import counts
report = verify_chain()
print(json.dumps({"counts": counts("default"), "intact": report.intact, "events": report.count}))
"""


def run(env, *args):
    result = subprocess.run([*RUNDBRIEF, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def sqlite_env(path, **extra):
    return dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{path}",
        SECRET_KEY=django_settings.SECRET_KEY,
        RUNDBRIEF_VAR_DIR=str(django_settings.VAR_DIR),
        RUNDBRIEF_LOG_LEVEL="WARNING",
        **extra,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's online backup; PostgreSQL is backed up with pg_dump")
def test_an_online_backup_restored_into_a_fresh_file_passes_consent_verify(topics, tmp_path):
    for i in range(5):
        reader(f"kundin{i}@example.de", withdraw=i == 2)
    source = verify_chain()
    call_command("backup", str(tmp_path / "backup.sqlite3"), stdout=open(os.devnull, "w"))
    restored = tmp_path / "restored.sqlite3"
    (tmp_path / "backup.sqlite3").rename(restored)  # a restore is putting the file in place
    assert run(sqlite_env(restored), "consent", "verify").strip() == f"chain intact: {source.count} events"
    with sqlite3.connect(restored) as copy:
        assert (
            copy.execute("SELECT count(*) FROM audience_consentevidence").fetchone()[0]
            == connection.cursor().execute("SELECT count(*) FROM audience_consentevidence").fetchone()[0]
        )
    with pytest.raises(Exception, match="exists"):
        call_command("backup", str(restored))
    # A place that takes no file: one line naming it (CommandError), not a traceback of os.open.
    with pytest.raises(CommandError, match=r"cannot write /proc/rundbrief\.sqlite3: "):
        call_command("backup", "/proc/rundbrief.sqlite3")


@pytest.mark.skipif(ON_POSTGRES, reason="needs no suite database; run once, on the SQLite pass")
@pytest.mark.skipif(not HAVE_POSTGRES, reason="PostgreSQL 15 server binaries are not installed")
def test_a_populated_sqlite_database_moves_to_postgresql_with_equal_counts_and_a_verifying_ledger(tmp_path):
    env = sqlite_env(tmp_path / "one-box.sqlite3")
    run(env, "migrate", "--verbosity", "0")
    run(env, "shell", "-c", POPULATE)
    before = json.loads(run(env, "shell", "-c", STATE).splitlines()[-1])
    with throwaway_cluster() as cluster:
        out = run(env, "move-database", "--to", cluster.url)
        after = json.loads(run(dict(env, DATABASE_URL=cluster.url), "shell", "-c", STATE).splitlines()[-1])
        again = subprocess.run(
            [*RUNDBRIEF, "move-database", "--to", cluster.url], env=env, cwd=ROOT, capture_output=True, text=True
        )
    assert f"chain intact: {before['events']} events" in out
    assert after == before and before["intact"]
    assert before["counts"]["audience.consentevent"] >= 40 and before["counts"]["delivery.delivery"] > 30
    assert before["counts"]["rundbrief_db.ratewindow"] == 1  # the hour's sending budget moves along
    assert again.returncode != 0 and "empty database" in again.stderr
