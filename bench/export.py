"""Benchmark of `rundbrief export-subscribers`: rows per second and peak memory on a throw-away database.

    .venv/bin/python bench/export.py --rows 100000

Builds N subscribers with consent evidence the way bench/import.py does (its CSV: 80 % confirmed,
1-3 topics, IPv4, consent text version; imported through `import-subscribers`, so each has an
`imported` ledger event with evidence) in a fresh SQLite database under a temporary folder, in a
child process, so that the building's memory is not counted. Then exports them all to a file in
this process and prints one line:

    export: rows=N seconds=S rows_per_s=X peak_rss_mb=M

peak_rss_mb is this process's peak: Django, the export and nothing else. "Slow" or "growing" would
be a peak that rises with N (it should not: 2,000 subscribers are held at a time) or a rate far
below the import's (docs/benchmarks.md).
"""

import argparse
import importlib.util
import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def setup_django(work):
    os.environ["RUNDBRIEF_VAR_DIR"] = str(work)
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'bench.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")
    os.environ.setdefault("RUNDBRIEF_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(HERE.parent))
    import django

    django.setup()


def build(work, rows):
    """The child's part: migrate, the three topics, bench/import.py's CSV, imported."""
    setup_django(work)
    from django.core.management import call_command

    from rundbrief.audience.importer import import_subscribers
    from rundbrief.newsroom.models import Topic

    spec = importlib.util.spec_from_file_location("bench_import", HERE / "import.py")
    bench_import = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_import)
    call_command("migrate", verbosity=0)
    for position, slug in enumerate(["produktneuheiten", "finanznachrichten", "sonderangebote"]):
        Topic.objects.get_or_create(slug=slug, defaults={"name": slug.title(), "menu_position": position})
    path = work / "subscribers.csv"
    bench_import.write_csv(path, rows)
    summary = import_subscribers(path, chunk_rows=50_000)
    assert summary.confirmed + summary.pending == rows, summary
    path.unlink()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--build-into", metavar="DIR", help=argparse.SUPPRESS)  # the child's part
    args = parser.parse_args()
    if args.build_into:
        build(Path(args.build_into), args.rows)
        return
    work = Path(tempfile.mkdtemp(prefix="rundbrief-bench-export-"))
    try:
        subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--build-into", str(work)], check=True)
        setup_django(work)
        from django.core.management import call_command

        out = io.StringIO()
        started = time.perf_counter()
        call_command("export-subscribers", str(work / "export.csv"), stdout=out)
        seconds = time.perf_counter() - started
        print(out.getvalue().strip())
        with open(work / "export.csv", encoding="utf-8") as fh:
            exported = sum(1 for _ in fh) - 1
        assert exported == args.rows, exported
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"export: rows={args.rows} seconds={seconds:.2f} rows_per_s={args.rows / seconds:.0f} peak_rss_mb={peak_mb:.0f}"
    )


if __name__ == "__main__":
    main()
