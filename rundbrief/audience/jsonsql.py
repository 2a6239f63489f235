"""SQL over the subscriber's attributes column: the one place that knows SQLite's JSON1 from PostgreSQL's jsonb.

Every function returns an SQL expression for one attribute of `column` (already quoted, with its
table alias). The key is written into the statement, not passed as a parameter, so that an
expression index on it can match (docs/segments.md, "Speed"); that is why it must be a strict
slug, checked here again whatever the caller checked before.
"""

import re

from django.db import connection

KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _key(key):
    if not KEY.fullmatch(key or ""):
        raise ValueError(f"not an attribute key: {key!r}")
    return key


def _postgres():
    return connection.vendor == "postgresql"


def text(column, key):
    """The value as text (text, choice, and dates, which are stored as ISO strings that sort as dates)."""
    key = _key(key)
    return f"({column} ->> '{key}')" if _postgres() else f"json_extract({column}, '$.{key}')"


def number(column, key):
    """The value as a number; NULL when absent. PostgreSQL casts only what jsonb holds as a number,
    so a stray value can never make a campaign's start fail on a cast error."""
    key = _key(key)
    if _postgres():
        return f"(CASE WHEN jsonb_typeof({column} -> '{key}') = 'number' THEN ({column} ->> '{key}')::numeric END)"
    return f"json_extract({column}, '$.{key}')"


def is_true(column, key):
    """True exactly when the value is JSON true."""
    key = _key(key)
    if _postgres():
        return f"(({column} ->> '{key}') = 'true' AND jsonb_typeof({column} -> '{key}') = 'boolean')"
    return f"(json_type({column}, '$.{key}') = 'true')"


def contains(expression):
    """`expression` contains the parameter's text, case-sensitive on both databases (LIKE is not:
    SQLite's ignores ASCII case, PostgreSQL's does not)."""
    return f"(strpos({expression}, %s) > 0)" if _postgres() else f"(instr({expression}, %s) > 0)"


def remove_key(table, column, key):
    """An UPDATE that strips one key from every row holding it (a deleted attribute definition)."""
    key = _key(key)
    if _postgres():
        return f"UPDATE {table} SET {column} = {column} - '{key}' WHERE {column} ? '{key}'"
    return f"UPDATE {table} SET {column} = json_remove({column}, '$.{key}') WHERE json_type({column}, '$.{key}') IS NOT NULL"
