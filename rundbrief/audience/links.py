"""The links a subscriber's mail carries: unsubscribe, preferences, confirm, export.

Each is SITE_URL + reverse() of the audience URL with the subscriber's signed token
(tokens.py). reverse() runs once per URL name, language and SITE_URL, with a
stand-in token that is then replaced: the delivery engine makes two links per
message, and resolving a URL costs more than the token.

Every link is under the subscriber's language prefix (German unprefixed, English under /en/),
so the page it opens speaks her language; the unsubscribe link also goes into the
List-Unsubscribe header (RFC 2369, RFC 8058), where the three extra characters do no harm.
"""

import functools

from django.conf import settings
from django.core.signals import setting_changed
from django.urls import reverse
from django.utils import translation

from rundbrief.audience import tokens

_TOKEN = "rb-token-placeholder"  # the shape the URL's token converter accepts
LANGUAGES = {code for code, _name in settings.LANGUAGES}


@functools.lru_cache(maxsize=64)
def _around_token(name: str, language: str, site_url: str) -> tuple[str, str]:
    with translation.override(language):
        url = site_url + reverse(f"audience:{name}", args=[_TOKEN])
    before, _token, after = url.partition(_TOKEN)
    return before, after


def _link(name, token, language=None):
    if language not in LANGUAGES:
        language = settings.LANGUAGE_CODE  # a stored language the site no longer offers: the default
    before, after = _around_token(name, language, settings.SITE_URL)
    return f"{before}{token}{after}"


def _forget_urls(*, setting, **kwargs):
    if setting == "ROOT_URLCONF":  # tests swap the URLconf; SITE_URL and the language are in the key
        _around_token.cache_clear()


setting_changed.connect(_forget_urls)


def unsubscribe_url(public_id: str, language: str | None = None) -> str:
    return _link("unsubscribe", tokens.make_token(tokens.UNSUBSCRIBE, public_id), language)


def preferences_url(public_id: str, language: str | None = None) -> str:
    return _link("preferences", tokens.make_token(tokens.PREFERENCES, public_id), language)


def recipient_links(public_id: str, language: str | None = None) -> tuple[str, str]:
    """(unsubscribe URL, preference-centre URL) of the subscriber `public_id` in her `language`
    (default LANGUAGE_CODE): what replaces the placeholders in every campaign message, and, for a
    made-up id, in the admin's preview."""
    return unsubscribe_url(public_id, language), preferences_url(public_id, language)


def confirm_url(public_id: str, nonce: str, language: str) -> str:
    """The double-opt-in link, in the subscriber's language."""
    return _link("confirm", tokens.make_token(tokens.CONFIRM, public_id, nonce), language)


def export_url(public_id: str, language: str) -> str:
    """The data-export download link (GDPR Art. 15, 20), in the subscriber's language."""
    return _link("export-download", tokens.make_token(tokens.EXPORT, public_id), language)
