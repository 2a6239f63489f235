"""Database triggers that make the consent ledger append-only (GDPR Art. 7(1): proof; docs/decisions.md, "Consent ledger and erasure").

The one UPDATE allowed is the ON DELETE SET NULL of `subscriber_id` when a
subscriber is erased or purged: that column is outside the hash chain, and
every other column must stay exactly as it was. TRUNCATE is left alone on
PostgreSQL so the test runner can flush tables; only a superuser can do that.
"""

from django.db import migrations

TABLE = "audience_consentevent"
CHAINED_COLUMNS = [
    "id", "kind", "subject_hash", "consent_text_id", "consent_text_sha256", "topics", "source",
    "occurred_at", "message_id", "evidence_commitment", "prev_hash", "hash",
]

SQLITE_CREATE = [
    f"""
    CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE}
    WHEN NOT (NEW.subscriber_id IS NULL AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in CHAINED_COLUMNS)})
    BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: UPDATE refused'); END
    """,
    f"""
    CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: DELETE refused'); END
    """,
]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {TABLE}_no_update", f"DROP TRIGGER IF EXISTS {TABLE}_no_delete"]

POSTGRES_CREATE = [
    f"""
    CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.subscriber_id IS NULL
           AND (to_jsonb(NEW) - 'subscriber_id') = (to_jsonb(OLD) - 'subscriber_id') THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION USING MESSAGE = '{TABLE} is append-only: ' || TG_OP || ' refused';
    END;
    $$ LANGUAGE plpgsql
    """,
    f"""
    CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only()
    """,
]
POSTGRES_DROP = [f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}", f"DROP FUNCTION IF EXISTS {TABLE}_append_only()"]

STATEMENTS = {"sqlite": (SQLITE_CREATE, SQLITE_DROP), "postgresql": (POSTGRES_CREATE, POSTGRES_DROP)}


def create_triggers(apps, schema_editor):
    create, _drop = STATEMENTS.get(schema_editor.connection.vendor, ([], []))
    for sql in create:
        schema_editor.execute(sql)


def drop_triggers(apps, schema_editor):
    _create, drop = STATEMENTS.get(schema_editor.connection.vendor, ([], []))
    for sql in drop:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("audience", "0001_initial")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
