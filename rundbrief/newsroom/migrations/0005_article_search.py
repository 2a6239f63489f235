"""Search over the folded copy of each article (rundbrief/newsroom/search.py; docs/decisions.md,
"Search folds umlauts to ae, oe, ue").

SQLite: an FTS5 table over the folded columns with newsroom_article as its content, kept in step by
triggers, so every writer (admin, import, move-database's bulk copy, a DELETE) updates it. SQLite
rebuilds a table to alter it and drops its triggers with the old table: a later migration that
alters newsroom_article on SQLite must run SQLITE_TRIGGERS again (tests/test_search.py notices).
PostgreSQL: a GIN index on to_tsvector('german', …) of the folded text, the expression search.py
queries (PG_DOCUMENT), and the title's and lead's tsvectors as generated columns for the ranking.
"""

from django.db import migrations, models

from rundbrief.newsroom.folding import fold_document, html_to_text

FTS = "newsroom_article_fts"
COLUMNS = "folded_title, folded_lead, folded_body"
SQLITE_TABLE = [
    # unicode61 with remove_diacritics as a second line of defence; the text is folded already.
    # prefix='2 3': short prefixes ("go" while typing) read a small index, not every term.
    f"""CREATE VIRTUAL TABLE {FTS} USING fts5({COLUMNS}, content='newsroom_article', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3')""",
]
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER {FTS}_insert AFTER INSERT ON newsroom_article BEGIN
        INSERT INTO {FTS}(rowid, {COLUMNS}) VALUES (new.id, new.folded_title, new.folded_lead, new.folded_body);
    END""",
    f"""CREATE TRIGGER {FTS}_delete AFTER DELETE ON newsroom_article BEGIN
        INSERT INTO {FTS}({FTS}, rowid, {COLUMNS}) VALUES ('delete', old.id, old.folded_title, old.folded_lead, old.folded_body);
    END""",
    f"""CREATE TRIGGER {FTS}_update AFTER UPDATE OF {COLUMNS} ON newsroom_article BEGIN
        INSERT INTO {FTS}({FTS}, rowid, {COLUMNS}) VALUES ('delete', old.id, old.folded_title, old.folded_lead, old.folded_body);
        INSERT INTO {FTS}(rowid, {COLUMNS}) VALUES (new.id, new.folded_title, new.folded_lead, new.folded_body);
    END""",
]
SQLITE_REBUILD = [f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')"]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {FTS}_{name}" for name in ("insert", "delete", "update")] + [
    f"DROP TABLE IF EXISTS {FTS}"
]

# The title's and the lead's words as stored tsvectors, for ranking (search.py: hits): computing
# to_tsvector for every matching row at query time took ~0.6 s for 10,000 articles (docs/benchmarks.md).
# Generated columns unknown to the ORM: PostgreSQL writes them, Django never reads them.
POSTGRES_CREATE = [
    """ALTER TABLE newsroom_article ADD COLUMN folded_title_tsv tsvector
        GENERATED ALWAYS AS (to_tsvector('german'::regconfig, folded_title)) STORED""",
    """ALTER TABLE newsroom_article ADD COLUMN folded_lead_tsv tsvector
        GENERATED ALWAYS AS (to_tsvector('german'::regconfig, folded_lead)) STORED""",
    """CREATE INDEX newsroom_article_search ON newsroom_article USING gin (to_tsvector('german'::regconfig,
        "newsroom_article"."folded_title" || ' ' || "newsroom_article"."folded_lead" || ' ' || "newsroom_article"."folded_body"))""",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS newsroom_article_search",
    "ALTER TABLE newsroom_article DROP COLUMN IF EXISTS folded_title_tsv",
    "ALTER TABLE newsroom_article DROP COLUMN IF EXISTS folded_lead_tsv",
]

STATEMENTS = {
    "sqlite": (SQLITE_TABLE + SQLITE_TRIGGERS + SQLITE_REBUILD, SQLITE_DROP),
    "postgresql": (POSTGRES_CREATE, POSTGRES_DROP),
}


def fold_existing_articles(apps, schema_editor):
    """The folded copy of the articles written before this migration (Article.derive does it on save)."""
    Article = apps.get_model("newsroom", "Article")
    for article in Article.objects.using(schema_editor.connection.alias).iterator(chunk_size=500):
        article.folded_title = fold_document(article.title)
        article.folded_lead = fold_document(article.lead)
        article.folded_body = fold_document(html_to_text(article.body_html))
        article.save(update_fields=["folded_title", "folded_lead", "folded_body"])


def create_index(apps, schema_editor):
    create, _drop = STATEMENTS.get(schema_editor.connection.vendor, ([], []))
    for sql in create:
        schema_editor.execute(sql)


def drop_index(apps, schema_editor):
    _create, drop = STATEMENTS.get(schema_editor.connection.vendor, ([], []))
    for sql in drop:
        schema_editor.execute(sql)


class Migration(migrations.Migration):

    dependencies = [
        ('newsroom', '0004_site_profile_logo_and_brand_colours'),
    ]

    operations = [
        migrations.AddField(
            model_name='article',
            name='folded_body',
            field=models.TextField(blank=True, default='', editable=False),
        ),
        migrations.AddField(
            model_name='article',
            name='folded_lead',
            field=models.TextField(blank=True, default='', editable=False),
        ),
        migrations.AddField(
            model_name='article',
            name='folded_title',
            field=models.TextField(blank=True, default='', editable=False),
        ),
        migrations.RunPython(fold_existing_articles, migrations.RunPython.noop),
        migrations.RunPython(create_index, drop_index),
    ]
