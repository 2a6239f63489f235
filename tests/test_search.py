"""Search finds words: every word of the query, in title, lead and body, in any umlaut spelling,
ranked, highlighted, paginated, published articles only; no input gives a 500. Runs on SQLite (FTS5)
and on PostgreSQL (German full-text search)."""

import datetime as dt
import importlib
import re
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rundbrief.newsroom import actions
from rundbrief.newsroom import search as search_module
from rundbrief.newsroom.folding import fold, fold_document, word_matches
from rundbrief.newsroom.models import Article
from rundbrief.newsroom.search import highlight, snippet

pytestmark = pytest.mark.django_db
ON_POSTGRES = connection.vendor == "postgresql"


def found(client, query, **params):
    """The titles of the results, in order, as text (the marks taken out)."""
    html = client.get("/suche/", {"q": query, **params}).content.decode()
    return [re.sub(r"</?mark>", "", t) for t in re.findall(r'<h2><a href="/artikel/[^"]+/">(.*?)</a></h2>', html)]


# -- folding ------------------------------------------------------------------------------------


def test_folding_writes_umlauts_as_ae_oe_ue_and_sharp_s_as_ss():
    assert fold("Münze") == fold("MÜNZE") == fold("Muenze") == "muenze"
    assert fold("Straße") == fold("STRASSE") == "strasse"
    assert fold("Öl Ärger Café") == "oel aerger cafe"
    assert fold("Mu\u0308nze") == "muenze"  # u + combining diaeresis, as some keyboards send it
    assert fold_document("Münze aus <Gold & Silber>, 3.580 €") == "muenze aus gold silber 3 580 munze"


def test_highlighting_marks_whole_words_that_start_with_a_searched_word_in_any_spelling():
    assert word_matches("Goldpreis", ["gold"]) and word_matches("Münzen", ["muenze"])
    assert word_matches("Münze", ["munze"]) and word_matches("Münze", ["muenzen"])
    assert not word_matches("Feingold", ["gold"]) and not word_matches("Golf", ["gold"])


# -- what is found ------------------------------------------------------------------------------


def test_every_word_must_occur_but_not_side_by_side(client, make_article):
    make_article(title="Goldpreis im Wochenausblick: Zinssignale im Fokus")
    make_article(title="Goldpreis steigt", body="Kein Ausblick auf die Woche.")
    assert found(client, "Goldpreis Wochenausblick") == ["Goldpreis im Wochenausblick: Zinssignale im Fokus"]
    assert found(client, "wochenausblick GOLDPREIS") == ["Goldpreis im Wochenausblick: Zinssignale im Fokus"]


def test_two_words_find_the_articles_containing_both_in_any_field(client, make_article):
    make_article(title="Gold und Silber im Vergleich")
    make_article(title="Gold glänzt", body="Auch Silber legt zu.")
    make_article(title="Edelmetalle", lead="Silber folgt dem Gold.")
    make_article(title="Nur Gold")
    make_article(title="Nur Silber")
    assert sorted(found(client, "Gold Silber")) == ["Edelmetalle", "Gold glänzt", "Gold und Silber im Vergleich"]


def test_the_lead_is_searched(client, make_article):
    make_article(title="Wochenbericht", lead="Der Platinpreis zieht an.", body="Sonst nichts.")
    assert found(client, "platinpreis") == ["Wochenbericht"]


def test_a_word_finds_the_words_it_begins(client, make_article):
    make_article(title="Silber glänzt", body="Industrie")
    make_article(title="Gold", body="Der Silberpreis zieht an.")
    assert sorted(found(client, "silber")) == ["Gold", "Silber glänzt"]
    make_article(title="Feingold")
    assert found(client, "gold") == ["Gold"]  # the end of a compound is not a word beginning


def test_german_stop_words_are_left_out_on_postgresql_and_required_on_sqlite(client, make_article):
    make_article(title="Goldpreis Wochenausblick")
    assert found(client, "Goldpreis und Wochenausblick") == (["Goldpreis Wochenausblick"] if ON_POSTGRES else [])


@pytest.mark.parametrize("query", ["muenze", "Münze", "MÜNZE", "Muenze", "munze"])
def test_every_umlaut_spelling_finds_both_spellings_in_the_text(client, make_article, query):
    make_article(title="Neue Münze", slug="neue-muenze")
    make_article(title="Die Muenze aus Kanada", slug="kanada")
    make_article(title="Barren", slug="barren")
    expected = ["Neue Münze"] if query == "munze" else ["Die Muenze aus Kanada", "Neue Münze"]
    assert sorted(found(client, query)) == expected


def test_sharp_s_and_ss_find_each_other(client, make_article):
    make_article(title="Lieferung an die Straße", slug="strasse")
    assert found(client, "strasse") == found(client, "Straße") == ["Lieferung an die Straße"]


def test_in_the_demo_muenze_finds_the_four_articles_muenze_with_umlaut_finds(client, demo_site):
    with_umlaut = found(client, "Münze")
    assert len(with_umlaut) == 4
    assert sorted(found(client, "muenze")) == sorted(with_umlaut)
    assert found(client, "Goldpreis Wochenausblick")[0].startswith("Goldpreis im Wochenausblick")


@pytest.mark.skipif(not ON_POSTGRES, reason="German stemming is PostgreSQL's (SQLite matches word beginnings)")
def test_on_postgresql_the_german_stemmer_finds_inflected_forms(client, make_article):
    make_article(title="Die neue Münze", slug="muenze")
    assert found(client, "Münzen") == ["Die neue Münze"]


def test_drafts_and_future_articles_never_appear_not_even_in_a_snippet(client, make_article):
    make_article(title="Platin heute", body="Öffentlich.")
    make_article(title="Platin Entwurf", body="Geheimer Entwurfstext", status=Article.Status.DRAFT)
    make_article(
        title="Platin morgen", body="Geheimer Zukunftstext", published_at=timezone.now() + dt.timedelta(hours=1)
    )
    html = client.get("/suche/", {"q": "Platin"}).content.decode()
    assert found(client, "Platin") == ["Platin heute"]
    assert "Geheimer" not in html and "1 Artikel passt" in html
    assert found(client, "Geheimer") == []


# -- order, snippets, pages ---------------------------------------------------------------------


def test_title_hits_rank_above_lead_hits_above_body_hits_and_the_newest_breaks_ties(client, make_article):
    # make_article publishes each later article one day earlier.
    make_article(title="Body newest", body="Palladium im Text.")
    make_article(title="Lead", lead="Palladium im Vorspann.")
    make_article(title="Palladium, older title hit")
    make_article(title="Body oldest", body="Palladium palladium palladium.")
    make_article(title="Palladium, oldest title hit")
    assert found(client, "palladium") == [
        "Palladium, older title hit",
        "Palladium, oldest title hit",
        "Lead",
        "Body newest",
        "Body oldest",
    ]


def test_more_searched_words_in_the_title_rank_higher(client, make_article):
    make_article(title="Gold", body="Silber")
    make_article(title="Gold und Silber")
    assert found(client, "gold silber") == ["Gold und Silber", "Gold"]


def test_snippets_show_the_text_around_the_words_escaped_with_marks(client, make_article):
    before, after = (" ".join(f"{word}{i}" for i in range(60)) for word in ("Vorher", "Nachher"))
    make_article(title="Bericht", body=f"{before} Der Kurs von <Gold & Silber> steigt. {after}")
    html = client.get("/suche/", {"q": "silber gold"}).content.decode()
    piece = re.search(r'<p class="snippet">(.*?)</p>', html, re.S).group(1)
    assert piece.startswith("… ") and piece.endswith(" …")
    assert "Der Kurs von &lt;<mark>Gold</mark> &amp; <mark>Silber</mark>&gt; steigt." in piece
    assert "Vorher0 " not in piece and "Nachher59" not in piece and len(piece.split()) < 40


def test_highlight_and_snippet_escape_everything_but_their_marks():
    assert (
        highlight('<script>"Gold"</script>', ["gold"]) == "&lt;script&gt;&quot;<mark>Gold</mark>&quot;&lt;/script&gt;"
    )
    assert snippet("a <b>", ["b"]) == "a &lt;<mark>b</mark>&gt;"
    assert snippet("", ["gold"]) == ""


def test_results_are_paginated_and_the_links_keep_the_query(client, make_article, settings):
    settings.ARTICLES_PER_PAGE = 2
    for i in range(5):
        make_article(title=f"Kupfer {i}")
    first = client.get("/suche/", {"q": "Kupfer"}).content.decode()
    assert "5 Artikel passen" in first and "Seite 1 von 3" in first
    assert 'href="?q=Kupfer&amp;page=2"' in first and "Weitere Treffer" in first
    assert found(client, "Kupfer", page="3") == ["Kupfer 4"]


def test_no_result_page_says_what_was_searched_and_suggests_fewer_words(client, make_article):
    make_article(title="Gold")
    html = client.get("/suche/", {"q": "Gold Rhodiumbarren"}).content.decode()
    assert "Kein Artikel enthält alle Wörter von „Gold Rhodiumbarren“." in html
    assert "Suchen Sie mit weniger Wörtern" in html
    single = client.get("/suche/", {"q": "Rhodiumbarren"}).content.decode()
    assert "„Rhodiumbarren“" in single and "weniger Wörtern" not in single


def test_the_query_is_cut_at_200_characters(client, make_article):
    make_article(title="Gold")
    html = client.get("/suche/", {"q": "Gold " + "x" * 300}).content.decode()
    assert "„Gold " + "x" * 195 + "“" in html


def test_a_query_of_punctuation_only_is_told_it_has_no_word(client, make_article):
    make_article(title="Gold")
    html = client.get("/suche/", {"q": '*** "-" ()'}).content.decode()
    assert "enthält kein Wort" in html and found(client, "***") == []


def test_only_the_first_ten_words_are_searched_and_the_page_says_so(client, make_article):
    words = [f"wort{chr(97 + i)}" for i in range(12)]
    make_article(title=" ".join(words[:10]))
    html = client.get("/suche/", {"q": " ".join(words)}).content.decode()
    assert "Nur die ersten 10 Wörter wurden gesucht." in html and "1 Artikel passt" in html


def test_english_search_page_speaks_english(client, make_article):
    make_article(title="Münze des Jahres")
    html = client.get("/en/suche/", {"q": "Muenze Xyz"}).content.decode()
    assert "No article contains every word of “Muenze Xyz”." in html and "Search with fewer words" in html
    assert "1 article matches “muenze”." in client.get("/en/suche/", {"q": "muenze"}).content.decode()


# -- the index stays in step ----------------------------------------------------------------------


def test_the_search_follows_every_change_of_an_article(client, make_article):
    article = make_article(title="Rhodium", body="Alt")
    article.title, article.body = "Iridium", "Neu"
    actions.save_article(article)
    assert found(client, "Rhodium") == [] and found(client, "Iridium neu") == ["Iridium"]
    article.lead = "Osmium"
    article.save(update_fields=["lead"])  # a partial save writes the folded copy too
    assert found(client, "osmium") == ["Iridium"]
    actions.unpublish_articles([article])
    assert found(client, "Iridium") == []
    actions.publish_articles([article])
    Article.objects.filter(pk=article.pk).delete()
    assert found(client, "Iridium") == []


def test_the_migration_folds_articles_written_before_it(client, make_article):
    article = make_article(title="Ruthenium")
    Article.objects.filter(pk=article.pk).update(folded_title="", folded_lead="", folded_body="")
    assert found(client, "Ruthenium") == []
    migration = importlib.import_module("rundbrief.newsroom.migrations.0005_article_search")
    migration.fold_existing_articles(django_apps, SimpleNamespace(connection=connection))
    assert found(client, "ruthenium") == ["Ruthenium"]


@pytest.mark.skipif(not ON_POSTGRES, reason="the GIN index is PostgreSQL's")
def test_on_postgresql_the_word_condition_is_answered_by_the_gin_index(make_article):
    """search.PG_DOCUMENT must be the index's expression, or every search reads every article."""
    make_article(title="Gold")
    # With one row every plan costs about the same, so the planner is steered to index paths only:
    # no sequential scan, no plain index scan in published_at order (the default ordering is dropped).
    # What is asked is whether the GIN index can answer the word condition at all.
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_indexscan = off")
        try:
            plan = Article.objects.filter(search_module._POSTGRES.matches(["gold"])).order_by().explain()
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_indexscan")
    assert "Bitmap Index Scan on newsroom_article_search" in plan


# -- hostile input --------------------------------------------------------------------------------

HOSTILE = ['NEAR(gold silber', "gold*", '"', '"gold', "-gold", "gold -silber", "title:gold", "{folded_title}: x",
           "gold AND", "OR", "^gold", "x" * 10_000, "\x00", "a\x00b", "' OR 1=1 --", "%", "_", "\\", "gold:*",
           "!gold & | <->", "()", "\u0301", "ß" * 300, "🪙 Münze"]  # fmt: skip


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_are_answered_with_a_page(client, make_article, query):
    make_article(title="Gold und Silber")
    response = client.get("/suche/", {"q": query})
    assert response.status_code == 200


@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=250), page=st.text(max_size=5))
def test_any_query_gets_a_page_never_a_500(client, make_article, query, page):
    if not Article.objects.exists():
        make_article(title="Goldpreis im Wochenausblick", lead="Gold und Silber", body="Münzen & Barren")
    response = client.get("/suche/", {"q": query, "page": page})
    assert response.status_code == 200
    main = response.content.decode().split("<main", 1)[1]
    assert main.count("<mark>") == main.count("</mark>") and "<script" not in main
