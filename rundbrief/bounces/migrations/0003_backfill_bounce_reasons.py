"""Give every bounce recorded before reasons existed its reason word (docs/bounces.md, "Policy").

The best reading available for each row: the raw message when it is still kept (re-classified;
for a report about several recipients, the failure of the recorded recipient), else the stored
server text judged as a reply; a complaint is `feedback`. Rows are read in batches of 500 by primary
key (not with a server-side cursor: SQLite gives no isolation between a cursor and writes to the same
table on one connection) and written with bulk_update, so a log of a million events needs neither a
million objects in memory nor a million UPDATE statements. Old rows keep their `kind` and
`outcome`, which record what was done then; `rundbrief bounces review` lists the suppressions the
new policy would not make.
"""

from django.db import migrations

from rundbrief.bounces import parse
from rundbrief.bounces.reasons import Reason

BATCH = 500


def reason_for(event) -> str:
    if event.kind == "complaint":
        return Reason.FEEDBACK
    raw = bytes(event.raw_message or b"")
    if raw:
        result = parse.classify(raw, references=False)
        if result.is_bounce and result.reason:
            mine = [f.reason for f in result.failures if f.address and f.address.lower() == event.recipient]
            return mine[0] if mine else result.reason
    text = event.diagnosis or ""
    if event.source == "smtp-sync":
        return parse.reply_failure(text).reason
    if event.status and event.status not in text:
        text = f"{event.status} {text}"  # the report's Status field, which the stored text may lack
    return parse.reply_failure(text, command="").reason


def backfill(apps, schema_editor):
    BounceEvent = apps.get_model("bounces", "BounceEvent")
    rows = BounceEvent.objects.filter(reason="").only(
        "pk", "kind", "status", "recipient", "diagnosis", "source", "raw_message"
    )
    last = 0
    while batch := list(rows.filter(pk__gt=last).order_by("pk")[:BATCH]):
        for event in batch:
            event.reason = reason_for(event)
        BounceEvent.objects.bulk_update(batch, ["reason"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ("bounces", "0002_bounceevent_reason_word"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
