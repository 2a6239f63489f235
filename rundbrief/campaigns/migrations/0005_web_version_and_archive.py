"""The web version's token and the archive switch.

A unique field with a callable default cannot be added in one step: Django calls the default once
and gives every existing row the same value. So the column is added empty, each existing campaign
gets a token of its own, and only then does the column become unique and required.
"""

from django.db import migrations, models

import rundbrief.campaigns.models


def give_each_campaign_a_token(apps, schema_editor):
    Campaign = apps.get_model("campaigns", "Campaign")
    for campaign in Campaign.objects.filter(web_token__isnull=True).only("pk").iterator():
        Campaign.objects.filter(pk=campaign.pk).update(web_token=rundbrief.campaigns.models.new_web_token())


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_lifecycle_events"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="web_token",
            field=models.CharField(editable=False, max_length=32, null=True),
        ),
        migrations.RunPython(give_each_campaign_a_token, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="campaign",
            name="web_token",
            field=models.CharField(
                default=rundbrief.campaigns.models.new_web_token, editable=False, max_length=32, unique=True
            ),
        ),
        migrations.AddField(
            model_name="campaign",
            name="show_in_archive",
            field=models.BooleanField(
                default=True,
                help_text="Once it has been sent, the newsletter is listed in the public newsletter archive.",
                verbose_name="show in archive",
            ),
        ),
        migrations.AlterField(
            model_name="campaignevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("scheduled", "scheduled"),
                    ("unscheduled", "unscheduled"),
                    ("started", "sending started"),
                    ("skipped", "skipped"),
                    ("duplicated", "copied"),
                    ("paused", "paused"),
                    ("resumed", "resumed"),
                    ("cancelled", "cancelled"),
                    ("test_sent", "test sent"),
                    ("archive_shown", "shown in the archive"),
                    ("archive_hidden", "kept out of the archive"),
                ],
                max_length=20,
                verbose_name="action",
            ),
        ),
    ]
