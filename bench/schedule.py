"""Starting speed: start_campaign to N confirmed subscribers (the audience snapshot).

    .venv/bin/python bench/schedule.py --subscribers 1000000 [--runs 3] [--database-url URL] [--segment]

Builds a fresh database (SQLite in a temporary folder by default; with --database-url
use a throw-away one, e.g. from `bash scripts/pg-cluster.sh start DIR`), fills it in
bulk with N confirmed subscribers — each subscribed to "Finanznachrichten", every
third also to "Sonderangebote", so the snapshot's de-duplication is exercised — and
times `rundbrief.delivery.actions.start_campaign` for a campaign to both topics (scheduled for now
by `schedule_campaign`, untimed: the snapshot is taken when sending starts, docs/campaigns.md "Life cycle").
Between runs the deliveries are deleted again (untimed: TRUNCATE, or DELETE + VACUUM on
SQLite), so every run schedules the first campaign onto an empty delivery ledger. Prints one line last:

    schedule: subscribers=N seconds=S        (S = median of the runs)

With --segment every subscriber also gets an attribute `umsatz` (0–999) and every tenth the
language en, and each run also times a campaign to the same topics with the segment "umsatz > 50
and language is de" (docs/segments.md; 85 % of the audience, so nearly as many rows are written
and the segment's own cost shows), right after the topic-only one. A second line follows:

    schedule: subscribers=N segment=umsatz>50,de seconds=S ratio=R   (R = S / topic-only median)

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


def add_attributes():
    """--segment: umsatz = id mod 1000 for everyone, language en for every tenth, in two statements."""
    from django.db import connection, transaction

    from rundbrief.audience.attributes import define_attribute

    define_attribute(key="umsatz", label="Umsatz", type="number")
    build = (
        "jsonb_build_object('umsatz', id %% %s)"
        if connection.vendor == "postgresql"
        else "json_object('umsatz', id %% %s)"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE audience_subscriber SET attributes = {build}", [1000])
        cursor.execute("UPDATE audience_subscriber SET language = 'en' WHERE id %% %s = 0", [10])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor == "postgresql" else "PRAGMA wal_checkpoint(TRUNCATE)")


def make_segment():
    from rundbrief.audience.segments import save_segment

    rules = [
        {"field": "attribute", "attribute": "umsatz", "operator": "gt", "value": "50"},
        {"field": "language", "operator": "is", "value": "de"},
    ]
    return save_segment(name="Umsatz über 50, deutsch", match="all", rules=rules)


def empty_ledger():
    from django.db import connection

    with connection.cursor() as cursor:  # back to an empty ledger, so every run is the first campaign
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE delivery_delivery CASCADE")
        else:
            cursor.execute("DELETE FROM delivery_delivery")
            cursor.execute("VACUUM")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def time_schedule(topics, run, segment=None):
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
    campaign.segment = segment
    campaign.save()
    counted = schedule_campaign(campaign).recipients_now  # the live count, untimed: the snapshot must agree
    started = time.perf_counter()
    campaign = start_campaign(campaign.pk)
    seconds = time.perf_counter() - started
    assert campaign.recipient_count == counted, (campaign.recipient_count, counted)
    return seconds, campaign.recipient_count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument(
        "--runs", type=int, default=3, help="timed schedules on the same audience; the median is printed"
    )
    parser.add_argument(
        "--database-url", default="", help="a throw-away database; default: SQLite in a temporary folder"
    )
    parser.add_argument("--segment", action="store_true", help="also time the same campaign with a segment")
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
    segment = None
    if args.segment:
        add_attributes()
        segment = make_segment()
    times, segment_times = [], []
    for run in range(args.runs):
        seconds, count = time_schedule(topics, run)
        assert count == args.subscribers, (count, args.subscribers)
        print(f"run {run + 1}: {seconds:.2f} s")
        times.append(seconds)
        empty_ledger()
        if segment is not None:
            seconds, count = time_schedule(topics, run, segment)
            print(f"run {run + 1} with the segment: {seconds:.2f} s ({count} recipients)")
            segment_times.append(seconds)
            empty_ledger()
    shutil.rmtree(folder, ignore_errors=True)
    median = statistics.median(times)
    print(f"schedule: subscribers={args.subscribers} seconds={median:.2f}")
    if segment is not None:
        with_segment = statistics.median(segment_times)
        print(
            f"schedule: subscribers={args.subscribers} segment=umsatz>50,de "
            f"seconds={with_segment:.2f} ratio={with_segment / median:.2f}"
        )


if __name__ == "__main__":
    main()
