"""Automatic slugs spell German letters out as German does without them: "Südafrika" → "suedafrika"
(the demo's own slugs are written so). The admin's browser-side slugs are checked in
tests/test_browser_layout.py."""

import pytest

from rundbrief.newsroom.actions import ensure_topic
from rundbrief.newsroom.importer import read_article_file
from rundbrief.newsroom.slugs import slugify_de

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "text, slug",
    [
        ("Südafrika", "suedafrika"),
        ("Goldkäufe der Notenbanken", "goldkaeufe-der-notenbanken"),
        ("Größe", "groesse"),
        ("ÖL & Übersee", "oel-uebersee"),
        ("GROẞHANDEL", "grosshandel"),
        ("Café Crème", "cafe-creme"),  # other accents lose their mark, as in Django's slugify
    ],
)
def test_umlauts_and_sharp_s_are_spelt_out(text, slug):
    assert slugify_de(text) == slug


def test_a_new_topic_and_an_imported_article_get_spelt_out_slugs(tmp_path):
    assert ensure_topic("Südafrika").slug == "suedafrika"
    path = tmp_path / "a.md"
    path.write_text('---\ntitle: "Münzen aus Südafrika"\npublished_at: 2026-11-27T12:00:00+01:00\n---\nText.\n')
    assert read_article_file(path).slug == "muenzen-aus-suedafrika"
