"""The delivery ledger on PostgreSQL: one partition per campaign, dropped whole when it has served.

A daily campaign to ten million readers writes 300 million ledger rows a month. In one table,
retention would DELETE ten million rows a day (and leave autovacuum to reclaim them), and every
claim would walk an index over all campaigns. Partitioned by campaign (LIST on campaign_id), a
campaign's rows and indexes are a table of their own: claims touch only it, and retention keeps
the per-campaign aggregates and drops the table (docs/decisions.md, "The delivery ledger, one
partition per campaign"; figures in docs/benchmarks.md, "The ledger partitioned by campaign").

- `prepare_partition(campaign_id)` creates and attaches the campaign's partition before its
  snapshot. The delivery actions call it in its own short transaction, before the snapshot's: an
  ATTACH holds locks on the parent and on the default partition until commit, and a snapshot of a
  million rows takes seconds.
- `drop_campaign_rows(campaign_id)` removes a campaign's rows: DROP TABLE of its partition, or one
  DELETE where there is none (SQLite; rows that landed in the default partition). Either way the
  rows that point at them (a bounce's delivery) are cleared first, as their on_delete=SET_NULL asks:
  Django's own cascade would load every row into memory to do that.
- The default partition takes rows of campaigns without a partition of their own (written before
  the table was partitioned, or by code that inserts without a snapshot); it is normally empty.

SQLite has no partitions; there both functions do what one table allows.
"""

from django.db import connection, models, transaction

from rundbrief.delivery.models import Delivery
from rundbrief.logs import get_logger

log = get_logger("rundbrief.delivery.partitions")

TABLE = Delivery._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"
# pg_advisory_xact_lock's key space is shared by the whole database; this one is ours (a constant
# chosen once) plus the campaign id, so two workers starting one campaign create its partition once.
LOCK_BASE = 0x52424400_00000000


def partition_name(campaign_id: int) -> str:
    return f"{TABLE}_c{int(campaign_id)}"


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def _exists(cursor, name: str) -> bool:
    # A query of pg_class, not to_regclass(): that reads the catalog through a cached snapshot, which
    # an advisory lock does not refresh, so a worker that waited for another's CREATE still missed it.
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = %s AND relnamespace = current_schema()::regnamespace)",
        [name],
    )
    return cursor.fetchone()[0]


def prepare_partition(campaign_id: int) -> bool:
    """Create and attach `campaign_id`'s partition unless it exists; True if it exists afterwards."""
    if not is_partitioned():
        return False
    name, q = partition_name(campaign_id), connection.ops.quote_name
    with connection.cursor() as cursor:
        if _exists(cursor, name):
            return True
        with transaction.atomic():
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_BASE + int(campaign_id)])
            if _exists(cursor, name):
                return True
            # Rows of this campaign already in the default partition would make the ATTACH fail;
            # they stay there (claims still find them through the parent).
            cursor.execute(f"SELECT 1 FROM {q(DEFAULT_PARTITION)} WHERE campaign_id = %s LIMIT 1", [campaign_id])
            if cursor.fetchone():
                log.warning("campaign rows already in the default partition", campaign_id=campaign_id)
                return False
            # CREATE + ATTACH rather than CREATE … PARTITION OF: the latter locks the whole parent
            # (ACCESS EXCLUSIVE) and would stop every worker's claim; ATTACH takes SHARE UPDATE
            # EXCLUSIVE, which reads and writes of the other partitions pass (PostgreSQL 15
            # documentation, ALTER TABLE … ATTACH PARTITION). The indexes follow the parent's.
            cursor.execute(f"CREATE TABLE {q(name)} (LIKE {q(TABLE)} INCLUDING DEFAULTS)")
            cursor.execute(f"ALTER TABLE {q(TABLE)} ATTACH PARTITION {q(name)} FOR VALUES IN ({int(campaign_id)})")
    log.info("ledger partition created", campaign_id=campaign_id)
    return True


def _clear_references(cursor, campaign_id: int):
    """Set to NULL every column that points at one of the campaign's rows (their on_delete=SET_NULL)."""
    q = connection.ops.quote_name
    for relation in Delivery._meta.related_objects:
        if relation.on_delete is not models.SET_NULL:
            raise NotImplementedError(f"{relation}: only SET_NULL references are cleared before a drop")
        table, column = relation.related_model._meta.db_table, relation.field.column
        cursor.execute(
            f"UPDATE {q(table)} SET {q(column)} = NULL WHERE {q(column)} IN "
            f"(SELECT id FROM {q(TABLE)} WHERE campaign_id = %s)",
            [campaign_id],
        )


def drop_campaign_rows(campaign_id: int) -> int:
    """Remove every ledger row of the campaign; returns how many there were. Runs in one transaction."""
    q = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        _clear_references(cursor, campaign_id)
        name = partition_name(campaign_id)
        if is_partitioned() and _exists(cursor, name):
            cursor.execute(f"SELECT count(*) FROM {q(name)}")
            count = cursor.fetchone()[0]
            # Last in the transaction: DROP locks the parent until commit, so nothing slow comes after.
            cursor.execute(f"DROP TABLE {q(name)}")
            return count
        cursor.execute(f"DELETE FROM {q(TABLE)} WHERE campaign_id = %s", [campaign_id])
        return cursor.rowcount
