"""Benchmark of `rundbrief import-subscribers`: rows per second on a throw-away database.

    .venv/bin/python bench/import.py --rows 100000

Generates a CSV with consent evidence (80 % confirmed, 1-3 topics, IPv4, consent text
version), imports it into a fresh SQLite database under a temporary folder (or into
DATABASE_URL if set — use a throw-away one), and prints one line:

    import: rows=N seconds=S rows_per_s=X cpu_s=C peak_rss_mb=M

"Slow" would be below 50,000 rows/s on SQLite (docs/benchmarks.md, "Targets").
"""

import argparse
import csv
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def write_csv(path, rows):
    topics = ["produktneuheiten", "finanznachrichten", "sonderangebote"]
    rng = random.Random(7)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["email", "topics", "consented_at", "confirmed_at", "source", "ip", "consent_text_version"])
        for i in range(rows):
            out.writerow(
                [
                    f"Kunde.{i}@Beispiel-{i % 997}.de",
                    "|".join(rng.sample(topics, rng.randint(1, 3))),
                    "2024-03-01T09:30:00+01:00",
                    "2024-03-01T09:41:00+01:00" if i % 5 else "",
                    "Shop-Checkout",
                    f"203.0.{i % 250}.{i % 200}",
                    "1",
                ]
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rundbrief-bench-import-"))
    os.environ.setdefault("RUNDBRIEF_VAR_DIR", str(work))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    from django.core.management import call_command

    from rundbrief.audience.importer import import_subscribers
    from rundbrief.newsroom.models import Topic

    call_command("migrate", verbosity=0)
    for position, (name, slug) in enumerate(
        [
            ("Produktneuheiten", "produktneuheiten"),
            ("Finanznachrichten", "finanznachrichten"),
            ("Sonderangebote", "sonderangebote"),
        ]
    ):
        Topic.objects.get_or_create(slug=slug, defaults={"name": name, "menu_position": position})
    path = work / "subscribers.csv"
    write_csv(path, args.rows)
    started, cpu_started = time.perf_counter(), time.process_time()
    summary = import_subscribers(path)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert summary.confirmed + summary.pending == args.rows, summary
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shutil.rmtree(work, ignore_errors=True)
    rate = args.rows / seconds
    # cpu_s: both threads (parsing and writing), user + system; steadier than wall clock on a shared machine.
    print(
        f"import: rows={args.rows} seconds={seconds:.2f} rows_per_s={rate:.0f} cpu_s={cpu:.2f} peak_rss_mb={peak_mb:.0f}"
    )


if __name__ == "__main__":
    main()
