"""Plain SQL for the hot write paths: INSERTs without the ORM's statement compiler, in bulk.

Used where the ORM's per-statement work costs more than the statement itself
(docs/benchmarks.md, sign-up and import): the consent ledger's appends, the
sign-up intake and the subscriber import. Values go in already in database form
(`Field.get_db_prep_save`, or the adapters below); nothing here knows a model of
ours, so any app may use it.
"""

import functools
import json
import sqlite3
import time
from contextlib import closing
from datetime import UTC
from itertools import chain

from django.db import connection

# Rows per INSERT statement at most: larger statements gained nothing measurable on SQLite.
MAX_ROWS_PER_INSERT = 1000
# From this many parameters on, SQLite statements go through the driver's own cursor (bulk_cursor).
DRIVER_CURSOR_PARAMS = 1000


@functools.cache
def marks(count: int) -> str:
    """`%s, %s, …`: the parameter placeholders of an IN list or a VALUES row of `count` values."""
    return ", ".join(["%s"] * count)


def insert_sql(model, fields: tuple, returning: str = "") -> str:
    """`INSERT INTO table (columns of fields) VALUES (%s, …)` for one row, built once per model and fields.

    `returning`: a field whose value the statement returns (the new primary key, say)."""
    meta, qn = model._meta, connection.ops.quote_name
    columns = ", ".join(qn(meta.get_field(name).column) for name in fields)
    sql = f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES ({marks(len(fields))})"
    if returning:
        sql += f" RETURNING {qn(meta.get_field(returning).column)}"
    return sql


def insert_one(obj):
    """INSERT one new model instance as Model.save() would, without the ORM's statement compiler.

    Values are prepared by the fields themselves, as the ORM does; an auto primary key is read
    back into `obj.pk`. No signals, no defaults beyond what the instance already holds."""
    meta = obj._meta
    fields = [f for f in meta.concrete_fields if f is not meta.auto_field]
    params = [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
    names = tuple(f.name for f in fields)
    with connection.cursor() as cursor:
        if meta.auto_field is None:  # a key of its own (e.g. a one-to-one primary key)
            cursor.execute(insert_sql(type(obj), names), params)
        else:
            cursor.execute(insert_sql(type(obj), names, returning=meta.pk.name), params)
            obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


def insert_rows(table, fields, rows, *, skip_conflicts_on=None, returning=()):
    """Plain multi-row INSERTs into a model's table (or a table named by a string): no model instances,
    values already in database form.

    `INSERT … VALUES (…), (…), …` with as many rows as the backend's parameter limit allows:
    one statement step per few thousand rows instead of one per row (on SQLite also one
    AUTOINCREMENT bookkeeping write per statement instead of one per row).
    `skip_conflicts_on`: a unique field; rows clashing with an existing one are left out
    (`ON CONFLICT (…) DO NOTHING`, SQLite ≥ 3.24 and PostgreSQL). `returning`: fields whose values
    are returned for the rows actually inserted, in no particular order.
    """
    if not rows:
        return []
    qn = connection.ops.quote_name
    if isinstance(table, str):  # a table of the caller's own (e.g. a temporary one): columns as named
        column = qn
        name = qn(table)
    else:  # a model: field names
        column = lambda field: qn(table._meta.get_field(field).column)  # noqa: E731
        name = qn(table._meta.db_table)
    head = f"INSERT INTO {name} ({', '.join(map(column, fields))}) VALUES "
    tail = ""
    if skip_conflicts_on:
        tail += f" ON CONFLICT ({column(skip_conflicts_on)}) DO NOTHING"
    if returning:
        tail += f" RETURNING {', '.join(map(column, returning))}"
    cursor, mark = bulk_cursor(len(rows) * len(fields))
    one = "(" + ", ".join([mark] * len(fields)) + ")"
    per_statement = max(1, min(MAX_ROWS_PER_INSERT, max_params() // len(fields)))
    full_sql = None
    found = []
    with connection.wrap_database_errors, closing(cursor):
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            if len(batch) == per_statement:
                full_sql = full_sql or head + ", ".join([one] * per_statement) + tail
                sql = full_sql
            else:
                sql = head + ", ".join([one] * len(batch)) + tail
            cursor.execute(sql, list(chain.from_iterable(batch)))
            if returning:
                found.extend(cursor.fetchall())
    return found


def rows_after(model, last_id, fields):
    """`fields` of the rows with an id above last_id, in id order: the rows this transaction has just
    inserted, when it holds the write lock (SQLite) or a lock of its own that every writer takes.

    On SQLite the rows come back as one JSON array in one result row. Fetched one by one, every row
    is a statement step of its own, and each step gives up the GIL and must win it back from a
    thread working beside this one (the import's parser), 10,000 times per chunk.
    """
    qn = connection.ops.quote_name
    meta = model._meta
    columns = ", ".join(qn(meta.get_field(name).column) for name in fields)
    where = f"FROM {qn(meta.db_table)} WHERE {qn(meta.pk.column)} > %s"
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # A subquery, so json_group_array sees the rows in id order.
            cursor.execute(
                f"SELECT json_group_array(json_array({columns})) FROM "
                f"(SELECT {columns} {where} ORDER BY {qn(meta.pk.column)})",
                [last_id],
            )
            return json.loads(cursor.fetchone()[0])
        cursor.execute(f"SELECT {columns} {where} ORDER BY {qn(meta.pk.column)}", [last_id])
        return cursor.fetchall()


def bulk_cursor(params=None):
    """(cursor, placeholder) for statements with thousands of parameters (`params`: how many, if known).

    SQLite: the driver's own cursor with `?`. Django's cursor would rewrite `%s` to `?` with a
    regular expression over the whole statement on every call (a tenth of the import's writing
    time). Below DRIVER_CURSOR_PARAMS that costs next to nothing, and Django's cursor keeps the
    statements visible to execute wrappers and query logging. Use it inside
    `connection.wrap_database_errors` so errors still arrive as django.db errors.
    """
    if connection.vendor == "sqlite" and (params is None or params >= DRIVER_CURSOR_PARAMS):
        connection.ensure_connection()
        return connection.connection.cursor(), "?"
    return connection.cursor(), "%s"


def max_params():
    """Host parameters one statement may carry on this connection."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        # The compiled-in limit (32,766 since SQLite 3.32; Django assumes the old 999).
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return 65_535  # PostgreSQL's wire protocol counts parameters in 16 bits


def datetime_adapter():
    """connection.ops.adapt_datetimefield_value, fast for SQLite (naive UTC text, as Django stores it).

    Memoised: most times in a batch are the same few (its `now`, a file's common consent dates).
    Make a new adapter per batch so the memo stays small.
    """
    return datetime_adapters()()


def datetime_adapters():
    """A maker of datetime_adapter()s. Call this on the connection's thread; what it returns needs no
    database access, so another thread (the import's parser) can make one per batch."""
    if connection.vendor != "sqlite":
        adapt = connection.ops.adapt_datetimefield_value
        return lambda: adapt
    return _sqlite_datetime_adapter


def _sqlite_datetime_adapter():
    memo = {None: None}

    def adapt(value):
        text = memo.get(value)
        if text is None and value is not None:
            text = memo[value] = str(value.astimezone(UTC).replace(tzinfo=None))
        return text

    return adapt


WAL_PATIENCE_SECONDS = 10.0


def checkpoint_sqlite_wal(patience: float | None = None) -> bool:
    """SQLite: copy the write-ahead log back into the database file and truncate it; True once done
    (always True elsewhere).

    Old page images in the WAL keep deleted rows readable until then; erasure (GDPR Art. 17)
    runs this after its commit so an erased address does not linger in the -wal file. A reader still
    on an older snapshot (a proof page, an export, a backup) keeps the log from being reset: then
    this tries again for `patience` seconds and answers False, never pretending it worked."""
    if connection.vendor != "sqlite":
        return True
    if connection.in_atomic_block:
        return False  # a checkpoint cannot run inside our own open transaction: the caller's to retry
    deadline = time.monotonic() + (WAL_PATIENCE_SECONDS if patience is None else patience)
    pause = 0.05
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        (busy_timeout,) = cursor.fetchone()
        cursor.execute("PRAGMA busy_timeout = 100")  # each try waits briefly; the loop decides how long
        try:
            while True:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy, log_frames, _checkpointed = cursor.fetchone()
                if busy == 0 and log_frames in (0, -1):  # -1: not in WAL mode, nothing to reset
                    return True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout)}")
