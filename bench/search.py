"""Benchmark of the search page: how long `/suche/?q=…` takes over N published articles.

    .venv/bin/python bench/search.py --articles 10000 --runs 7
    .venv/bin/python bench/search.py --database-url postgres://…/postgres   # an empty database

Builds N articles of about 300 words (a fixed vocabulary with umlauts and compounds, seeded) in a
fresh SQLite database under a temporary folder, or in the empty database given, written in bulk
with their folded copy (Article.derive, as a save would). Then requests the search page through
Django's test client for each query, `--runs` times, and prints one line:

    search: articles=N vendor=V median_ms=M slowest_query=Q slowest_median_ms=S

median_ms is the median over all queries and runs of one whole request (query, count, snippets,
template). "Slow" would be a median above 100 ms at 10,000 articles (docs/benchmarks.md): the index
is then not used, or snippets are made for more than the page's articles.
"""

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUERIES = ["gold", "Goldpreis Wochenausblick", "muenze", "Gold Silber", "Zentralbank Zinsen Anleger", "xyzzy"]
VOCABULARY = (
    "Gold Silber Platin Münze Münzen Barren Goldpreis Silberpreis Wochenausblick Notenbank Zentralbank "
    "Zinsen Anleger Nachfrage Angebot Lagerung Zollfreilager Sammler Jahresedition Feinunze Unze Euro "
    "Dollar Inflation Markt Händler Kunden Größe Prägung Qualität Versand sicher günstig stark schwach "
    "der die das und im mit für auf über unter nach vor bei seit wie als auch nicht noch schon"
).split()


def setup_django(database_url, work):
    os.environ["RUNDBRIEF_VAR_DIR"] = str(work)
    os.environ["DATABASE_URL"] = database_url
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")
    os.environ.setdefault("RUNDBRIEF_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(HERE.parent))
    import django

    django.setup()


def build(count):
    import datetime as dt

    from django.core.management import call_command
    from django.utils import timezone

    from rundbrief.newsroom.markdown import render_markdown
    from rundbrief.newsroom.models import Article

    call_command("migrate", verbosity=0)
    rng = random.Random(15)
    now = timezone.now()
    batch = []
    for n in range(count):

        def words(k):
            return " ".join(rng.choice(VOCABULARY) for _ in range(k))

        body = "\n\n".join(words(60) + "." for _ in range(5))
        article = Article(
            title=words(6),
            slug=f"artikel-{n}",
            lead=words(25),
            body=body,
            body_html=render_markdown(body),
            status=Article.Status.PUBLISHED,
            published_at=now - dt.timedelta(hours=n),
        )
        article.derive()  # the folded copy, as Article.save writes it
        batch.append(article)
        if len(batch) == 1000:
            Article.objects.bulk_create(batch)
            batch = []
    Article.objects.bulk_create(batch)


def measure(runs):
    from django.db import connection
    from django.test import Client

    client = Client()
    times = {q: [] for q in QUERIES}
    for _run in range(runs):
        for query in QUERIES:
            started = time.perf_counter()
            response = client.get("/suche/", {"q": query})
            times[query].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (query, response.status_code)
    medians = {q: statistics.median(t) for q, t in times.items()}
    slowest = max(medians, key=medians.get)
    overall = statistics.median([t for ts in times.values() for t in ts])
    return connection.vendor, overall, slowest, medians[slowest]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database-url", help="an empty database (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rundbrief-bench-search-"))
    try:
        setup_django(args.database_url or f"sqlite:///{work / 'bench.sqlite3'}", work)
        build(args.articles)
        vendor, overall, slowest, slowest_ms = measure(args.runs)
        print(
            f"search: articles={args.articles} vendor={vendor} median_ms={overall:.1f} "
            f'slowest_query="{slowest}" slowest_median_ms={slowest_ms:.1f}'
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
