"""The consent ledger's `hash` column loses its unique index (import speed; docs/decisions.md,
"The subscriber import keeps one ledger event per person").

Nothing looks an event up by its hash, and the index is not what makes the
chain trustworthy: `consent verify` recomputes every link in id order. But a
unique index on a random 64-character key costs every append a search and an
insert at a random place, which was about a fifth of the SQL work of an
imported row (docs/benchmarks.md, import).

On SQLite, changing a column rebuilds the table, and the append-only triggers
of migration 0002 (GDPR Art. 7(1): proof) go with the old table; they are
created again right after, in the same transaction, in both directions.
"""

import importlib

from django.db import migrations, models

triggers = importlib.import_module("rundbrief.audience.migrations.0002_consent_ledger_triggers")


def recreate_sqlite_triggers(apps, schema_editor):
    # PostgreSQL keeps its trigger through ALTER TABLE; only SQLite's table rebuild drops them.
    if schema_editor.connection.vendor == "sqlite":
        triggers.drop_triggers(apps, schema_editor)
        triggers.create_triggers(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("audience", "0004_signup_intake")]
    operations = [
        # Listed before and after the rebuild so that unapplying also ends with the triggers in place.
        migrations.RunPython(migrations.RunPython.noop, recreate_sqlite_triggers),
        migrations.AlterField(model_name="consentevent", name="hash", field=models.CharField(max_length=64)),
        migrations.RunPython(recreate_sqlite_triggers, migrations.RunPython.noop),
    ]
