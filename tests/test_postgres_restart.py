"""Four delivery workers ride out a PostgreSQL restart mid-campaign: nobody lost, nobody doubled.

Runs on the PostgreSQL pass only, against a throw-away cluster of its own (not the
suite's server), which it restarts with `pg_ctl restart -m fast` while the workers send.
"""

import collections
import email
import json
import os
import subprocess
import sys
import time
from email import policy

import pytest

from tests.support.postgres import HAVE_POSTGRES, ROOT, throwaway_cluster
from tests.support.smtp import SmtpServer

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")
RUNDBRIEF = [sys.executable, "-m", "rundbrief"]
AUDIENCE = 2000
POPULATE = f"""
from rundbrief.newsroom.models import Topic
from tests.support.campaigns import make_audience, scheduled_campaign
topic = Topic.objects.create(name="Finanznachrichten", slug="finanznachrichten")
make_audience(topic, {AUDIENCE})
scheduled_campaign([topic])
"""
OUTCOME = """
import json
from django.db.models import Count
from rundbrief.delivery.models import Delivery
from rundbrief.campaigns.models import Campaign
print(json.dumps({"states": dict(Delivery.objects.values_list("state").annotate(n=Count("id")).order_by()),
                  "campaign": Campaign.objects.get().state}))
"""


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL pass only (scripts/test.sh postgres)")
@pytest.mark.skipif(not HAVE_POSTGRES, reason="PostgreSQL 15 server binaries are not installed")
def test_four_workers_survive_a_postgresql_restart_and_send_everyone_exactly_once():
    with throwaway_cluster() as cluster, SmtpServer() as server:
        env = dict(
            os.environ,
            DATABASE_URL=cluster.url,
            SECRET_KEY="restart-test-" + "k" * 40,
            DELIVERY_SMTP_URLS=f"{server.url}?per_second=120",
            DELIVERY_LEASE_SECONDS="15",
            DELIVERY_RETRY_BASE_SECONDS="0.1",
            DELIVERY_CONSENT_RECHECK_SECONDS="0.1",
            RUNDBRIEF_LOG_LEVEL="WARNING",
            RUNDBRIEF_LOG_FORMAT="json",
        )

        def rundbrief(*args):
            done = subprocess.run([*RUNDBRIEF, *args], env=env, cwd=ROOT, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr[-3000:]
            return done.stdout

        rundbrief("migrate", "--verbosity", "0")
        rundbrief("shell", "-c", POPULATE)
        workers = [
            subprocess.Popen(
                [*RUNDBRIEF, "deliver", "--until-idle", "--concurrency", "2", "--batch-size", "50"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(4)
        ]
        deadline = time.monotonic() + 60
        while len(server.messages) < AUDIENCE // 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        sent_before_restart = len(server.messages)
        cluster.restart()
        restarted_at = len(server.messages)
        errors, logs = [], []
        try:
            for worker in workers:
                try:
                    _out, err = worker.communicate(timeout=max(1, deadline + 120 - time.monotonic()))
                except subprocess.TimeoutExpired:
                    worker.kill()
                    errors.append("hung after the restart: " + worker.communicate()[1].decode()[-3000:])
                    continue
                logs.append(err.decode())
                if worker.returncode != 0:
                    errors.append(err.decode()[-2000:])
        finally:
            for worker in workers:  # never leave a worker behind, whatever failed
                if worker.poll() is None:
                    worker.kill()
                    errors.append("still running: " + worker.communicate()[1].decode()[-2000:])
        outcome = json.loads(rundbrief("shell", "-c", OUTCOME).splitlines()[-1])
        copies = collections.Counter(rcpt for m in server.messages for rcpt in m.rcpt_tos)
        ids = collections.defaultdict(set)
        for message in server.messages:
            ids[message.rcpt_tos[0]].add(email.message_from_bytes(message.data, policy=policy.default)["Message-ID"])
    assert errors == [], errors
    assert any("database unavailable" in log or "consent check failed" in log for log in logs), "no outage was seen"
    assert 0 < sent_before_restart < AUDIENCE and restarted_at < AUDIENCE, "the restart did not fall mid-campaign"
    assert len(copies) == AUDIENCE, "a recipient was lost"
    assert max(copies.values()) == 1, f"doubled: {[r for r, n in copies.items() if n > 1][:5]}"
    assert outcome == {"states": {"sent": AUDIENCE}, "campaign": "finished"}
