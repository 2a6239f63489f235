"""The transports' rate windows move into the one rate-window table, rundbrief_db.RateWindow
(docs/decisions.md, "One store of rate windows").

The rows are copied: the current hour's window holds what the workers were granted of
`per_hour`, and a limit that started afresh at the upgrade would allow up to twice it in
that hour.
"""

from django.db import migrations


def copy_windows(apps, schema_editor):
    old = apps.get_model("delivery", "RateWindow")
    new = apps.get_model("rundbrief_db", "RateWindow")
    alias = schema_editor.connection.alias
    rows = (
        new(
            key=w.transport,
            window_seconds=w.window_seconds,
            window_start=w.window_start,
            count=w.granted,
            last_grant=w.last_grant,
        )
        for w in old.objects.using(alias).iterator()
    )
    new.objects.using(alias).bulk_create(rows, batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        ("delivery", "0003_rate_windows"),
        ("rundbrief_db", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(copy_windows, migrations.RunPython.noop),
        migrations.DeleteModel(name="RateWindow"),
    ]
