"""`rundbrief move-database --to URL`: copy everything from the current database into an empty new one.

The path from one box on SQLite to PostgreSQL (docs/operations.md). Steps:
migrate the target; refuse if it holds content already; flush what the migrations
filled in; dumpdata → loaddata as XML (microsecond times) with natural keys for content types
and permissions; compare the row count of every model; run `consent verify` on the
target. Primary keys are kept, so the consent ledger's hash chain (which includes
`consent_text_id`) verifies unchanged. The append-only trigger allows this: it
refuses UPDATE and DELETE of ledger rows, never INSERT.
"""

import os
import subprocess
import sys
import tempfile

from django.apps import apps
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from rundbrief import config
from rundbrief.ops.transfer import EXCLUDE, MUST_BE_EMPTY, counts

TARGET = "move_target"


class Command(BaseCommand):
    help = "Copy all data from the current database (DATABASE_URL) into an empty database at --to URL, and check it."

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, metavar="URL", help="e.g. postgres://rundbrief:…@db:5432/rundbrief")

    def handle(self, *args, to, **options):
        try:
            connections.settings[TARGET] = config.parse_database_url(to, name="--to", conn_max_age=0)
        except config.ConfigError as exc:
            raise CommandError(str(exc)) from None
        connections.configure_settings(connections.settings)  # fills in Django's defaults (OPTIONS, TIME_ZONE, …)
        try:
            connections[TARGET].ensure_connection()
        except DatabaseError as exc:  # wrong host, port, password, database name: one line, not a traceback
            raise CommandError(
                f"cannot connect to {config.redact_url(to)}: {str(exc).strip().splitlines()[0]}"
            ) from None
        call_command("migrate", database=TARGET, interactive=False, verbosity=0)
        for label in MUST_BE_EMPTY:
            if apps.get_model(label)._base_manager.using(TARGET).exists():
                raise CommandError(f"the target already holds {label} rows; move-database only fills an empty database")
        call_command("flush", database=TARGET, interactive=False, verbosity=0)
        with tempfile.TemporaryDirectory() as tmp:
            # XML, not JSON: Django's JSON encoder cuts datetimes to milliseconds, and the ledger's
            # hash covers occurred_at to the microsecond — a JSON copy would break the chain.
            dump = os.path.join(tmp, "rundbrief.xml")
            call_command(
                "dumpdata",
                format="xml",
                natural_foreign=True,
                natural_primary=True,
                exclude=EXCLUDE,
                output=dump,
                verbosity=0,
            )
            call_command("loaddata", dump, database=TARGET, verbosity=0)
        before, after = counts("default"), counts(TARGET)
        differ = {label: (before[label], after.get(label)) for label in before if before[label] != after.get(label)}
        if differ:
            raise CommandError(f"row counts differ after the copy (source, target): {differ}")
        connections[TARGET].close()
        env = dict(os.environ, DATABASE_URL=to)
        verify = subprocess.run(
            [sys.executable, "-m", "rundbrief", "consent", "verify"], env=env, capture_output=True, text=True
        )
        if verify.returncode != 0:
            raise CommandError(f"consent verify on the target failed: {verify.stderr.strip() or verify.stdout.strip()}")
        self.stdout.write(
            f"move-database: {sum(after.values())} rows in {len(after)} tables copied; {verify.stdout.strip()}"
        )
        self.stdout.write("next: stop the services, set DATABASE_URL to the new URL, start them again")
