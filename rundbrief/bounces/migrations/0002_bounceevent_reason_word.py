"""The free text of a bounce becomes `diagnosis`; `reason` is now a word of the vocabulary (bounces/reasons.py)."""

from django.db import migrations, models

from rundbrief.bounces.reasons import Reason


class Migration(migrations.Migration):
    dependencies = [
        ("bounces", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(model_name="bounceevent", old_name="reason", new_name="diagnosis"),
        migrations.AlterField(
            model_name="bounceevent",
            name="diagnosis",
            field=models.CharField(blank=True, max_length=500, verbose_name="diagnosis"),
        ),
        migrations.AddField(
            model_name="bounceevent",
            name="reason",
            field=models.CharField(
                blank=True, choices=[(r.value, r.value) for r in Reason], max_length=20, verbose_name="reason"
            ),
        ),
    ]
