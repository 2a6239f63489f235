"""`rundbrief import-article`: Markdown with YAML front matter in, articles out; bad files rejected whole."""

import io

import pytest
from django.core.management import CommandError, call_command

from rundbrief.newsroom.models import Article, Topic

pytestmark = pytest.mark.django_db

GOOD = """---
title: Goldpreis auf Rekordhoch
published_at: 2025-04-07T13:45:00+02:00
topics: [Finanznachrichten, Edelmetall-ABC]
lead: Ein neuer Höchststand.
author: Redaktion
---
Text.

## Hintergrund

Mehr Text.
"""


def run(*files):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import-article", *map(str, files), stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
    return code, out.getvalue(), err.getvalue()


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_import_creates_article_and_unknown_topics(tmp_path):
    code, out, _ = run(write(tmp_path, "gold.md", GOOD))
    assert code == 0 and "created: goldpreis-auf-rekordhoch" in out
    article = Article.objects.get(slug="goldpreis-auf-rekordhoch")
    assert article.title == "Goldpreis auf Rekordhoch" and article.status == "published"
    assert article.published_at.isoformat() == "2025-04-07T11:45:00+00:00"
    assert "<h2>Hintergrund</h2>" in article.body_html
    assert sorted(t.name for t in article.topics.all()) == ["Edelmetall-ABC", "Finanznachrichten"]
    assert Topic.objects.filter(slug="edelmetall-abc").exists()


def test_reimporting_a_slug_updates_that_article(tmp_path):
    run(write(tmp_path, "gold.md", GOOD))
    code, out, _ = run(
        write(
            tmp_path,
            "gold2.md",
            GOOD.replace("Ein neuer Höchststand.", "Korrigiert.").replace(
                "title: Goldpreis auf Rekordhoch", "title: Goldpreis auf Rekordhoch\nslug: goldpreis-auf-rekordhoch"
            ),
        )
    )
    assert code == 0 and "updated: goldpreis-auf-rekordhoch" in out
    assert Article.objects.count() == 1
    assert Article.objects.get().lead == "Korrigiert."


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("plain.md", "Nur Text ohne Kopf.\n", "no front matter"),
        ("open.md", "---\ntitle: X\nText\n", "not closed"),
        (
            "date.md",
            GOOD.replace("2025-04-07T13:45:00+02:00", "7. April 2025"),
            "published_at '7. April 2025' is not a date",
        ),
        ("month.md", GOOD.replace("2025-04-07T13:45:00+02:00", "2025-13-07T13:45:00+02:00"), "is not a date"),
        ("notitle.md", GOOD.replace("title: Goldpreis auf Rekordhoch\n", ""), "'title' is missing"),
        ("long.md", GOOD.replace("Goldpreis auf Rekordhoch", "G" * 301), "title is 301 characters long"),
        ("latin1.md", GOOD.encode("latin-1"), "not UTF-8"),
        ("yaml.md", "---\ntitle: [unclosed\n---\nText\n", "not valid YAML"),
        ("list.md", "---\n- a\n- b\n---\nText\n", "must be a mapping"),
        (
            "topics.md",
            GOOD.replace("topics: [Finanznachrichten, Edelmetall-ABC]", "topics: {a: b}"),
            "'topics' must be a list",
        ),
        ("slug.md", GOOD.replace("title: Goldpreis", "slug: Böse Slug!\ntitle: Goldpreis"), "is not valid"),
        ("key.md", GOOD.replace("author:", "autor:"), "unknown front-matter key(s): autor"),
        ("nul.md", GOOD.replace("Mehr Text.", "Mehr\x00Text."), "contains NUL bytes"),
    ],
)
def test_bad_file_gives_one_line_naming_file_and_problem_and_imports_nothing(tmp_path, name, content, problem):
    code, out, err = run(write(tmp_path, name, content))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {name}: ") and problem in lines[0]
    assert Article.objects.count() == 0 and Topic.objects.count() == 0


def test_one_bad_file_among_good_ones_still_imports_the_good_ones_and_exits_1(tmp_path):
    good = write(tmp_path, "good.md", GOOD)
    bad = write(tmp_path, "bad.md", "kaputt")
    code, out, err = run(bad, good)
    assert code == 1
    assert "bad.md" in err and "created: goldpreis-auf-rekordhoch" in out
    assert Article.objects.count() == 1


def test_missing_file_is_reported_not_a_traceback(tmp_path):
    code, _, err = run(tmp_path / "fehlt.md")
    assert code == 1 and "fehlt.md: cannot read the file" in err


def test_script_in_imported_markdown_never_reaches_the_page(tmp_path, client):
    run(write(tmp_path, "x.md", GOOD + "\n<script>alert(1)</script>\n[x](javascript:alert(1))\n"))
    html = client.get("/artikel/goldpreis-auf-rekordhoch/").content.decode()
    assert "alert(1)</script>" not in html and 'href="javascript:' not in html


def test_naive_time_is_read_in_site_time_zone(tmp_path):
    run(write(tmp_path, "n.md", GOOD.replace("2025-04-07T13:45:00+02:00", "2025-04-07 13:45")))
    assert Article.objects.get().published_at.isoformat() == "2025-04-07T11:45:00+00:00"
