"""The reader's language: an editor's text in it, German when it has none; a site path in it.

Translatable texts are explicit fields beside the German one (`name` and `name_en`,
docs/decisions.md, "Site texts in English"). The German field is
the text every reader gets unless her language has a non-empty field of its own.

Paths: the German pages have no prefix, the English ones live under /en/ (docs/decisions.md,
"URL scheme"). An editor enters a path such as `/impressum/` the German way; `localised_path`
gives the same page's path in another language, so an English reader's footer and mail keep
her prefix.
"""

from django.conf import settings
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils import translation

GERMAN = "de"  # the language of the untranslated fields, whatever LANGUAGE_CODE says


def current_language(language=None) -> str:
    return (language or translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]


def translated(obj, field: str, language: str | None = None) -> str:
    """`obj.<field>` in `language` (default: the active one): `<field>_<language>` when that field
    exists and is not blank, else the German `<field>`."""
    language = current_language(language)
    if language != GERMAN:
        value = getattr(obj, f"{field}_{language}", None)
        if value and str(value).strip():
            return value
    return getattr(obj, field)


class Localised:
    """`obj.localised.<field>`: `translated(obj, field)` for templates, which cannot pass arguments."""

    def __init__(self, obj, language=None):
        self._obj, self._language = obj, language

    def __getattr__(self, field):
        if field.startswith("_"):
            raise AttributeError(field)
        return translated(self._obj, field, self._language)


class TranslatedFields:
    """For models with `<field>_en` siblings: `localised` (the active language) and `in_language(code)`."""

    @property
    def localised(self):
        return Localised(self)

    def in_language(self, language):
        return Localised(self, language)


def localised_path(url: str, language: str | None = None) -> str:
    """A site path written the default language's way (`/impressum/`) as the same page's path in
    `language` (`/en/impressum/`). Anything else — an absolute URL, a path no page answers — comes
    back unchanged: it is the editor's, and there is no other-language page to point to."""
    if not url.startswith("/") or url.startswith("//"):
        return url
    language = current_language(language)
    path, mark, rest = url.partition("?")
    with translation.override(settings.LANGUAGE_CODE):
        try:
            match = resolve(path)
        except Resolver404:
            return url
    return _reverse(match, language, f"{mark}{rest}") or url


def switch_path(request, language: str) -> str:
    """The page the reader is on, in `language`: the same article, topic, page or search (with its
    query); the home page when the current page has no counterpart (a 404, a page outside the site)."""
    match = request.resolver_match
    query = request.META.get("QUERY_STRING", "")
    found = _reverse(match, language, f"?{query}" if query else "") if match and match.url_name else None
    if found is None:
        with translation.override(language):
            found = reverse("newsroom:home")
    return found


def _reverse(match, language, suffix):
    name = f"{match.namespace}:{match.url_name}" if match.namespace else match.url_name
    with translation.override(language):
        try:
            return reverse(name, args=match.args, kwargs=match.kwargs) + suffix
        except NoReverseMatch:
            return None
