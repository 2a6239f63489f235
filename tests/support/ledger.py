"""Tampering with the consent ledger the way an attacker with database access would: the append-only
triggers dropped (inside the test's transaction, so they come back with the rollback)."""

from django.db import connection

from rundbrief.audience.models import ConsentEvent

TABLE = ConsentEvent._meta.db_table


def drop_triggers():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER {TABLE}_append_only ON {TABLE}")
        else:
            cursor.execute(f"DROP TRIGGER {TABLE}_no_update")
            cursor.execute(f"DROP TRIGGER {TABLE}_no_delete")
