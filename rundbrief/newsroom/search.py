"""Searching published articles: every word of the query, in title, lead and body, ranked, with snippets.

Both databases search the folded copy of each article (Article.folded_*, newsroom/folding.py):
- SQLite: the FTS5 table `newsroom_article_fts`, kept in step with newsroom_article by triggers
  (migration 0004); each word is a prefix query, so "gold" finds "Goldpreis".
- PostgreSQL: to_tsvector('german', …) over the folded text, with a GIN index on that very
  expression (migration 0004); each word is a prefix of its German stem ("Münzen" finds "Münze").
Order: more query words in the title first, then in the lead, then the newest
(docs/decisions.md, "Search folds umlauts to ae, oe, ue").
"""

import itertools
import re
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import BooleanField, IntegerField
from django.db.models.expressions import RawSQL
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from rundbrief.newsroom.folding import WORD, html_to_text, matched_terms, query_words, word_matches
from rundbrief.newsroom.models import Article

QUERY_MAX_LENGTH = 200
# More words than this and the reader is pasting a sentence; the rest is left out, and said so.
QUERY_MAX_WORDS = 10
SNIPPET_WORDS = 30

FTS_TABLE = "newsroom_article_fts"
# The expression PostgreSQL's GIN index is built on (migration 0004); a query must repeat it
# character for character, or the planner does not use the index.
PG_DOCUMENT = (
    "to_tsvector('german'::regconfig, "
    '"newsroom_article"."folded_title" || \' \' || "newsroom_article"."folded_lead" || \' \' '
    '|| "newsroom_article"."folded_body")'
)


def clean_query(raw: str) -> str:
    """What was typed, as the page shows it: no control characters (PostgreSQL refuses NUL in text
    outright, and none can match), trimmed, at most QUERY_MAX_LENGTH characters."""
    return "".join(ch for ch in raw if ch >= " " and ch != "\x7f").strip()[:QUERY_MAX_LENGTH]


@dataclass
class Search:
    query: str
    words: list[str] = field(default_factory=list)
    words_left_out: bool = False

    @classmethod
    def of(cls, raw: str) -> "Search":
        query = clean_query(raw)
        words, left_out = query_words(query, QUERY_MAX_WORDS)
        return cls(query, words, left_out)

    def articles(self, now=None):
        """The ids of the published articles containing every word, best first (Paginator slices it).

        Ids only: ranking sorts every match, and sorting whole rows (body_html and all) spilled to
        disk on PostgreSQL; hits() loads the page's articles."""
        if not self.words:
            return Article.objects.none().values_list("pk", flat=True)
        backend = _POSTGRES if connection.vendor == "postgresql" else _SQLITE
        return (
            Article.objects.published(now)
            .filter(backend.matches(self.words))
            .annotate(
                title_hits=backend.hits("folded_title", self.words),
                lead_hits=backend.hits("folded_lead", self.words),
            )
            .order_by("-title_hits", "-lead_hits", "-published_at", "-pk")
            .values_list("pk", flat=True)
        )

    def hits(self, ids) -> list["Hit"]:
        """The page's articles in the order of `ids`, each with its marked title and snippet."""
        ids = list(ids)
        articles = Article.objects.prefetch_related("topics").in_bulk(ids)
        return [self.hit(articles[pk]) for pk in ids if pk in articles]

    def hit(self, article) -> "Hit":
        return Hit(article, highlight(article.title, self.words), snippet(_text_of(article), self.words))


@dataclass
class Hit:
    article: Article
    title: SafeString
    snippet: SafeString


class _Sqlite:
    @staticmethod
    def _match(words, column=None):
        # Each word quoted as an FTS5 string, so nothing a reader types is FTS syntax (NEAR, *, ", -,
        # column filters); words side by side must all match. WORD keeps quotes out of `words`.
        phrase = " ".join(f'"{w}"*' for w in words)
        return f"{column} : ({phrase})" if column else phrase

    def matches(self, words):
        sql = f'"newsroom_article"."id" IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s)'
        return RawSQL(sql, [self._match(words)], output_field=BooleanField())

    def hits(self, column, words):
        one = f'("newsroom_article"."id" IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s))'
        return RawSQL(
            " + ".join([one] * len(words)), [self._match([w], column) for w in words], output_field=IntegerField()
        )


class _Postgres:
    @staticmethod
    def _tsquery(words):
        # Quoted lexemes with a prefix mark; WORD keeps quotes, backslashes and operators out of `words`.
        return " & ".join(f"'{w}':*" for w in words)

    def matches(self, words):
        sql = f"{PG_DOCUMENT} @@ to_tsquery('german'::regconfig, %s)"
        return RawSQL(sql, [self._tsquery(words)], output_field=BooleanField())

    def hits(self, column, words):
        # The column's stored tsvector (a generated column of migration 0004), not to_tsvector per row.
        one = f'("newsroom_article"."{column}_tsv" @@ to_tsquery(\'german\'::regconfig, %s))::int'
        return RawSQL(" + ".join([one] * len(words)), [self._tsquery([w]) for w in words], output_field=IntegerField())


_SQLITE = _Sqlite()
_POSTGRES = _Postgres()


def _text_of(article):
    return "\n".join(part for part in (article.lead, html_to_text(article.body_html)) if part)


def highlight(text: str, words) -> SafeString:
    """The text HTML-escaped, each word the reader searched for in <mark>."""
    out, position = [], 0
    for match in WORD.finditer(text):
        if word_matches(match.group(), words):
            out += [escape(text[position : match.start()]), "<mark>", escape(match.group()), "</mark>"]
            position = match.end()
    out.append(escape(text[position:]))
    return mark_safe("".join(out))  # every piece of text went through escape()


def snippet(text: str, words, length: int = SNIPPET_WORDS) -> SafeString:
    """About `length` words of the text, from just before the place where most of the searched
    words meet (the beginning when none is in the text, e.g. a hit in the title only)."""
    tokens = list(WORD.finditer(text))
    if not tokens:
        return mark_safe("")
    found = [(i, which) for i, t in enumerate(tokens) if (which := matched_terms(t.group(), words))]
    start = 0
    if found:
        # The first window holding the most distinct searched words; a few hundred places at most.
        def reach(k):
            window = itertools.takewhile(lambda f: f[0] < found[k][0] + length, itertools.islice(found, k, None))
            return len(set().union(*(which for _i, which in window)))

        best = max(range(min(len(found), 200)), key=lambda k: (reach(k), -k))
        start = max(0, found[best][0] - 5)
    end = min(len(tokens), start + length)
    # Whole text at either end, so closing punctuation is kept; cut at word boundaries in between.
    first = tokens[start].start() if start > 0 else 0
    last = tokens[end - 1].end() if end < len(tokens) else len(text)
    # Blocks (a heading, a paragraph) apart by a dot where no punctuation ends them.
    piece = re.sub(r"(?<![.!?:;…])\n", " · ", text[first:last]).replace("\n", " ")
    before = "… " if start > 0 else ""
    after = " …" if end < len(tokens) else ""
    return mark_safe(before + highlight(piece, words) + after)  # highlight() escaped the text
