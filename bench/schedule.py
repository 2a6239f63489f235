"""Starting speed: start_campaign to N confirmed subscribers (the audience snapshot).

    .venv/bin/python bench/schedule.py --subscribers 1000000 [--runs 3] [--database-url URL]

Builds a fresh database (SQLite in a temporary folder by default; with --database-url
use a throw-away one, e.g. from `bash scripts/pg-cluster.sh start DIR`), fills it in
bulk with N confirmed subscribers — each subscribed to "Finanznachrichten", every
third also to "Sonderangebote", so the snapshot's de-duplication is exercised — and
times `rundbrief.delivery.actions.start_campaign` for a campaign to both topics (scheduled for now
by `schedule_campaign`, untimed: the snapshot is taken when sending starts, docs/campaigns.md "Life cycle").
Between runs the deliveries are deleted again (untimed: TRUNCATE, or DELETE + VACUUM on
SQLite), so every run schedules the first campaign onto an empty delivery ledger. Prints one line last:

    schedule: subscribers=N seconds=S        (S = median of the runs)

Slow would mean: above 10 s for 1,000,000 subscribers, on SQLite or PostgreSQL
(docs/benchmarks.md, "Targets").
"""

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._common import temp_sqlite_url  # noqa: E402


def fill(subscribers):
    """N confirmed subscribers and their subscriptions, written by the database itself."""
    from django.db import connection, transaction
    from django.utils import timezone

    from rundbrief.newsroom.models import Topic

    finance, _ = Topic.objects.get_or_create(slug="finanznachrichten", defaults={"name": "Finanznachrichten"})
    offers, _ = Topic.objects.get_or_create(slug="sonderangebote", defaults={"name": "Sonderangebote"})
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    if connection.vendor == "postgresql":
        numbers = "SELECT n FROM generate_series(1, %s) AS n"
        public_id = "lpad(to_hex(n), 32, '0')"
    else:
        numbers = "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %s) SELECT n FROM seq"
        public_id = "printf('%%032x', n)"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO audience_subscriber
                    (email, public_id, status, language, confirm_nonce, requested_at, confirmed_at)
                SELECT 'leser' || n || '@example.org', {public_id}, 'confirmed', 'de', '', %s, %s
                FROM ({numbers}) AS numbers""",
            [now, now, subscribers],
        )
        cursor.execute(
            "INSERT INTO audience_subscription (subscriber_id, topic_id, created_at) SELECT id, %s, %s FROM audience_subscriber",
            [finance.pk, now],
        )
        cursor.execute(
            "INSERT INTO audience_subscription (subscriber_id, topic_id, created_at) "
            "SELECT id, %s, %s FROM audience_subscriber WHERE id %% 3 = 0",
            [offers.pk, now],
        )
    with connection.cursor() as cursor:  # set-up ends with the database at rest: statistics, no WAL backlog
        cursor.execute("ANALYZE" if connection.vendor == "postgresql" else "PRAGMA wal_checkpoint(TRUNCATE)")
    return [finance, offers]


def time_schedule(topics, run):
    from rundbrief.campaigns.actions import schedule_campaign
    from rundbrief.campaigns.models import Campaign
    from rundbrief.delivery.actions import start_campaign

    campaign = Campaign.objects.create(
        name=f"Bench {run}",
        subject="Marktbericht",
        from_email="newsletter@musterhaus.example",
        body="## Gold im Fokus\n\nDer Goldpreis hat sich in dieser Woche in einer engen Spanne bewegt.\n",
    )
    campaign.topics.set(topics)
    schedule_campaign(campaign)
    started = time.perf_counter()
    campaign = start_campaign(campaign.pk)
    return time.perf_counter() - started, campaign.recipient_count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument(
        "--runs", type=int, default=3, help="timed schedules on the same audience; the median is printed"
    )
    parser.add_argument(
        "--database-url", default="", help="a throw-away database; default: SQLite in a temporary folder"
    )
    args = parser.parse_args()
    database_url, folder = temp_sqlite_url()
    os.environ["DATABASE_URL"] = args.database_url or database_url
    os.environ.setdefault("RUNDBRIEF_VAR_DIR", str(folder))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    topics = fill(args.subscribers)
    print(f"filled {args.subscribers} subscribers in {time.perf_counter() - started:.1f} s ({connection.vendor})")
    times = []
    for run in range(args.runs):
        seconds, count = time_schedule(topics, run)
        assert count == args.subscribers, (count, args.subscribers)
        print(f"run {run + 1}: {seconds:.2f} s")
        times.append(seconds)
        with connection.cursor() as cursor:  # back to an empty ledger, so every run is the first campaign
            if connection.vendor == "postgresql":
                cursor.execute("TRUNCATE delivery_delivery CASCADE")
            else:
                cursor.execute("DELETE FROM delivery_delivery")
                cursor.execute("VACUUM")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.rmtree(folder, ignore_errors=True)
    print(f"schedule: subscribers={args.subscribers} seconds={statistics.median(times):.2f}")


if __name__ == "__main__":
    main()
