"""Delivery speed and memory: a fresh database, N confirmed subscribers, a ~15 KB campaign, W workers.

    python bench/delivery.py --recipients 20000 --workers 2 --dkim rsa [--smtp HOST:PORT] [--database-url URL]
prints `delivery: recipients=N workers=W dkim=rsa seconds=S msgs_per_s=X peak_rss_mb=M cpu_ms_per_msg=C`
(peak RSS of the largest worker process, and the workers' user+system CPU per message, from wait4's
rusage; CPU per message is the figure a loaded machine disturbs least).
Slow would mean: below 0.4 × raw_smtp with RSA (0.7 × without DKIM) in the same run.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._common import SmtpSink, temp_sqlite_url  # noqa: E402

HTML_PARAGRAPH = (
    '<p style="font-family:Georgia,serif;font-size:16px;line-height:1.5;color:#1d2228">Der Goldpreis hat sich '
    "in dieser Woche in einer engen Spanne bewegt. Anlegerinnen und Anleger achten auf die Zinssignale der "
    "Notenbanken und auf die Nachfrage zum Jahresende.</p>\n"
)


def setup(database_url, recipients, dkim, folder):
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from rundbrief.audience.models import Subscriber, Subscription
    from rundbrief.campaigns.models import Campaign
    from rundbrief.delivery.snapshot import snapshot_audience
    from rundbrief.newsroom.models import Topic
    from rundbrief.outbound import dkim as dkim_module

    call_command("migrate", verbosity=0)
    topic, _ = Topic.objects.get_or_create(slug="finanznachrichten", defaults={"name": "Finanznachrichten"})
    now = timezone.now()
    batch = 5000
    for start in range(0, recipients, batch):
        Subscriber.objects.bulk_create(
            [
                Subscriber(email=f"leser{i}@example.org", status="confirmed", confirmed_at=now, public_id=f"{i:032x}")
                for i in range(start, min(recipients, start + batch))
            ]
        )
    ids = Subscriber.objects.values_list("id", flat=True).iterator(chunk_size=batch)
    chunk = []
    for sid in ids:
        chunk.append(Subscription(subscriber_id=sid, topic=topic))
        if len(chunk) == batch:
            Subscription.objects.bulk_create(chunk)
            chunk = []
    Subscription.objects.bulk_create(chunk)
    html = (
        '<html><body><table width="600"><tr><td>'
        + HTML_PARAGRAPH * 45
        + '<p><a href="%%RB:unsubscribe_url%%">Abmelden</a> · <a href="%%RB:preferences_url%%">Einstellungen</a></p>'
        + "</td></tr></table></body></html>"
    )
    text = "Der Goldpreis hat sich in dieser Woche bewegt.\n" * 60 + "\nAbmelden: %%RB:unsubscribe_url%%\n"
    campaign = Campaign.objects.create(
        name="Bench",
        subject="Marktbericht",
        from_email="newsletter@musterhaus.example",
        state="sending",  # as start_campaign leaves it, with fixed content: the bench times sending only
        scheduled_at=now,
        started_at=now,
        frozen_subject="Marktbericht: Gold im Fokus",
        frozen_html=html,
        frozen_text=text,
    )
    campaign.topics.set([topic])
    snapshot_audience(campaign)
    env = {}
    if dkim != "none":
        key = dkim_module.generate_key(dkim)
        path = folder / f"dkim-{dkim}.pem"
        path.write_bytes(dkim_module.private_pem(key))
        env["DKIM_PRIVATE_KEY_FILE" if dkim == "rsa" else "DKIM_ED25519_KEY_FILE"] = str(path)
    return env


def run_workers(database_url, smtp, workers, concurrency, extra_env):
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        DELIVERY_SMTP_URLS=f"smtp://{smtp}",
        RUNDBRIEF_LOG_LEVEL="WARNING",
        **extra_env,
    )
    start = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "rundbrief", "deliver", "--until-idle", "--concurrency", str(concurrency)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    peak_kb = 0
    cpu = 0.0
    for process in processes:
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"worker exited with {process.returncode}")
        peak_kb = max(peak_kb, usage.ru_maxrss)
        cpu += usage.ru_utime + usage.ru_stime
    return time.perf_counter() - start, peak_kb / 1024, cpu


def sending_window(database_url):
    """Epoch seconds of the first and last recorded sent_at (recording lags sending by under half a second)."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Max, Min

    from rundbrief.delivery.models import Delivery

    connection.close()
    window = Delivery.objects.aggregate(first=Min("sent_at"), last=Max("sent_at"))
    return window["first"].timestamp(), window["last"].timestamp()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="SMTP connections per worker")
    parser.add_argument("--dkim", choices=["rsa", "ed25519", "none"], default="rsa")
    parser.add_argument("--smtp", default="", help="HOST:PORT; default: start smtp-sink on a free port")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--setup-only", default="", help=argparse.SUPPRESS)  # internal: FOLDER, prints the env as JSON
    args = parser.parse_args()
    if args.setup_only:
        print(json.dumps(setup(args.database_url, args.recipients, args.dkim, Path(args.setup_only))))
        return
    database_url, folder = temp_sqlite_url()
    if args.database_url:
        database_url = args.database_url
    # The audience is built in a child process. Linux keeps a process's peak RSS (ru_maxrss) across
    # fork and exec, so workers forked from a parent that had just built 100,000 subscribers reported
    # that parent's peak as their own: the apparent growth of worker memory with N was this.
    made = subprocess.run(
        [
            sys.executable,
            __file__,
            "--setup-only",
            str(folder),
            "--database-url",
            database_url,
            "--recipients",
            str(args.recipients),
            "--dkim",
            args.dkim,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    extra = json.loads(made.stdout.strip().splitlines()[-1])
    if args.smtp:
        seconds, peak, cpu = run_workers(database_url, args.smtp, args.workers, args.concurrency, extra)
    else:
        with SmtpSink() as sink:
            seconds, peak, cpu = run_workers(
                database_url, f"127.0.0.1:{sink.port}", args.workers, args.concurrency, extra
            )
    first, last = sending_window(database_url)
    print(
        f"sending window {last - first:.2f} s = {args.recipients / max(last - first, 1e-9):.0f} msg/s "
        "(first to last recorded sent_at; excludes process start-up and the final flush)"
    )
    print(
        f"delivery: recipients={args.recipients} workers={args.workers} dkim={args.dkim} seconds={seconds:.2f} "
        f"msgs_per_s={args.recipients / seconds:.0f} peak_rss_mb={peak:.0f} cpu_ms_per_msg={1000 * cpu / args.recipients:.3f}"
    )


if __name__ == "__main__":
    main()
