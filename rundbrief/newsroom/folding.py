"""Folding text for search: one spelling per word, so "Münze", "MÜNZE" and "muenze" are the same word.

The rule (docs/decisions.md, "Search folds umlauts to ae, oe, ue"): lower case, ä/ö/ü → ae/oe/ue as
German writes them without umlaut keys (DIN 5007-2), ß → ss, any other accent dropped (é → e).
Articles are stored folded (Article.folded_*), queries are folded the same way, and both databases
search the folded copy; readers see the original text.
"""

import functools
import html
import re
import unicodedata

from django.utils.html import strip_tags

# A word as the search sees it: letters and digits; everything else (hyphen, apostrophe,
# underscore, punctuation) separates, as SQLite's unicode61 tokenizer does.
WORD = re.compile(r"[^\W_]+")
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})


def _without_marks(text):
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """The searchable spelling: "Münze" → "muenze", "Straße" → "strasse", "Café" → "cafe"."""
    # NFC first, so that u + combining diaeresis (as some keyboards send it) is ü and becomes ue;
    # casefold() turns ß and ẞ into ss.
    return _without_marks(unicodedata.normalize("NFC", text).casefold().translate(_GERMAN))


def plain(text: str) -> str:
    """The spelling of a reader without umlauts who drops them: "Münze" → "munze"."""
    return _without_marks(unicodedata.normalize("NFC", text).casefold())


def fold_document(text: str) -> str:
    """The stored copy of a text: its folded words, then the umlaut-less spelling of every word that
    has an umlaut, so that "Munze" finds "Münze" too (the extra words only ever add matches)."""
    # Words only, apart by spaces: PostgreSQL's parser would otherwise read "<Gold & Silber>" as
    # a tag and skip it, or "3.580" as one number; both databases then see the words WORD sees.
    words = WORD.findall(fold(text))
    extra = sorted({plain(w) for w in WORD.findall(text) if plain(w) != fold(w)})
    return " ".join(words + extra)


def html_to_text(markup: str) -> str:
    """The words of rendered HTML, as a reader sees them: no tags, entities decoded, blocks apart."""
    spaced = re.sub(r"<(?:/p|/h\d|br\s*/?|/li|/td|/th|/blockquote|/pre)>", "\\g<0>\n", markup)
    return re.sub(r"[ \t]*\n\s*", "\n", html.unescape(strip_tags(spaced))).strip()


def query_words(query: str, limit: int) -> tuple[list[str], bool]:
    """The query's folded words, each once, in order; at most `limit`, and whether more were given."""
    words = list(dict.fromkeys(WORD.findall(fold(query))))
    return words[:limit], len(words) > limit


def word_matches(word: str, terms) -> bool:
    """Whether a word of the original text is one the reader searched for (for highlighting)."""
    return bool(matched_terms(word, terms))


def matched_terms(word: str, terms) -> set[str]:
    """The searched words (folded) that a word of the original text matches.

    A search word matches the start of a text word ("gold" marks "Goldpreis"), in either spelling;
    the last two letters of a longer search word may differ, so that inflected forms the German
    stemmer on PostgreSQL found ("Münzen" for "Münze") are marked too."""
    forms = _forms(word)
    return {term for term in terms if any(form.startswith(_stem(term)) for form in forms)}


@functools.lru_cache(maxsize=8192)
def _forms(word):
    # Cached: a page of snippets asks about the same few hundred words again and again.
    return frozenset({*WORD.findall(fold(word)), *WORD.findall(plain(word))})


def _stem(term):
    return term if len(term) <= 4 else term[: max(4, len(term) - 2)]
