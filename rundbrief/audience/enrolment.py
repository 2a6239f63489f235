"""Creating subscribers: the one writer of a new Subscriber with its topics and its first ledger event.

The sign-up form and API one at a time (intake.submit_subscription_request), the
sign-up intake in batches (intake.apply_received) and the CSV import in chunks
(import_writer) all create subscribers through `create_subscribers`, and all pick
topics through `consented_topics`. It writes with plain multi-row INSERTs and the
ledger's batch append (rundbrief/db/bulk.py, ledger_batch.py): the import is
measured in rows per second and the intake holds SQLite's write lock while it runs
(docs/benchmarks.md). An address that exists already is left exactly as it is
(`ON CONFLICT (email) DO NOTHING`): the caller decides what a known address gets.
"""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Max
from django.utils import timezone

from rundbrief.audience.ledger_batch import EventRow, append_events
from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.db.bulk import datetime_adapter, insert_rows, rows_after

# The columns a creator fills; every other column of Subscriber gets its default (subscriber_columns).
GIVEN = (
    "email",
    "public_id",
    "status",
    "language",
    "requested_at",
    "confirmed_at",
    "confirm_nonce",
    "last_confirmation_mail_at",
)
# Up to this many rows the new ids come back with RETURNING; above, on SQLite, as one JSON row
# (rows_after): RETURNING steps once per row, and each step gives the GIL to the import's parser.
RETURNING_ROWS = 100


def consented_topics(chosen, every_topic):
    """The topics a sign-up's consent covers: those chosen, or every topic when none was chosen.

    The consent text names every topic, so a sign-up that picks none consents to all of
    them (docs/api.md, `topics`); readers narrow it later in the preference centre."""
    return tuple(chosen) or tuple(every_topic)


def subscriber_columns():
    """(column names, database-ready defaults of the columns after GIVEN): a NewSubscriber's `values`
    are the GIVEN values followed by these defaults, so a field added to Subscriber later gets its
    default. Call once per batch, on the connection's thread."""
    fields = [f for f in Subscriber._meta.concrete_fields if not f.primary_key and f.name not in GIVEN]
    defaults = tuple(f.get_db_prep_save(f.get_default(), connection) for f in fields)
    return GIVEN + tuple(f.name for f in fields), defaults


def instance_values(subscriber, columns):
    """An unsaved Subscriber's values in `columns` order, in database form."""
    meta = subscriber._meta
    return tuple(
        meta.get_field(name).get_db_prep_save(getattr(subscriber, meta.get_field(name).attname), connection)
        for name in columns
    )


@dataclass(slots=True)
class NewSubscriber:
    """One subscriber to create: its column values (email first), its topics and its ledger event."""

    values: tuple
    topic_ids: tuple
    event: EventRow  # `requested` or `imported`; its subscriber_id is filled in here


def create_subscribers(new: list[NewSubscriber], columns) -> dict:
    """Insert the subscribers, their subscriptions and their events (chained in list order); returns
    {email: id} of those created. Addresses that exist already are skipped, with their events.

    Call inside transaction.atomic(): on SQLite the transaction holds the write lock, so the rows
    above the highest id before the INSERT are this one's.
    """
    if not new:
        return {}
    values = [n.values for n in new]
    if connection.vendor == "sqlite" and len(new) > RETURNING_ROWS:
        before = Subscriber.objects.aggregate(last=Max("pk"))["last"] or 0
        insert_rows(Subscriber, columns, values, skip_conflicts_on="email")
        ids = dict(rows_after(Subscriber, before, ["email", "id"]))
    else:  # PostgreSQL: sign-ups insert concurrently, only RETURNING tells our rows from theirs
        ids = dict(insert_rows(Subscriber, columns, values, skip_conflicts_on="email", returning=["email", "id"]))
    created = [n for n in new if n.values[0] in ids]
    now = datetime_adapter()(timezone.now())
    insert_rows(
        Subscription,
        ["subscriber", "topic", "created_at"],
        [(ids[n.values[0]], topic_id, now) for n in created for topic_id in n.topic_ids],
    )
    for n in created:
        n.event.subscriber_id = ids[n.values[0]]
    # GDPR Art. 7(1): each new subscriber's consent (or its import) is an event of the chain.
    append_events([n.event for n in created])
    return ids


def set_topics(subscriber, topics):
    """Make `subscriber`'s subscriptions exactly `topics` (deleting the others), in the caller's transaction."""
    Subscription.objects.filter(subscriber=subscriber).exclude(topic__in=topics).delete()
    existing = set(subscriber.subscriptions.values_list("topic_id", flat=True))
    Subscription.objects.bulk_create(
        [Subscription(subscriber=subscriber, topic=t) for t in topics if t.pk not in existing]
    )
