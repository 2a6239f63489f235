"""The sign-up counters move into the one rate-window table, rundbrief_db.RateWindow
(docs/decisions.md, "One store of rate windows").

The rows are copied, not dropped, so no limit starts afresh during an upgrade: a minute's
counts are few rows, and copying them costs less than explaining why a sender could sign up
twice the limit in the minute of a deploy.
"""

from django.db import migrations

WINDOW_SECONDS = 60  # the sign-up limits count per minute (audience/ratelimit.py)


def copy_counters(apps, schema_editor):
    old = apps.get_model("audience", "RateCounter")
    new = apps.get_model("rundbrief_db", "RateWindow")
    alias = schema_editor.connection.alias
    rows = (
        new(key=c.key, window_seconds=WINDOW_SECONDS, window_start=int(c.window_start.timestamp()), count=c.count)
        for c in old.objects.using(alias).iterator()
    )
    new.objects.using(alias).bulk_create(rows, batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        ("audience", "0005_consentevent_hash_not_unique"),
        ("rundbrief_db", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(copy_counters, migrations.RunPython.noop),
        migrations.DeleteModel(name="RateCounter"),
    ]
