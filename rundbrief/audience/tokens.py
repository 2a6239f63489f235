"""Signed, single-purpose tokens for the links we mail out.

Each purpose has its own salt, so a token made for one purpose never opens
another (an unsubscribe token cannot confirm). django.core.signing compares
signatures in constant time and also accepts keys in SECRET_KEY_FALLBACKS, so
SECRET_KEY can be rotated without breaking links already mailed
(docs/settings.md). Tokens carry the subscriber's opaque public_id, never the
address (issue 3: no e-mail address in any URL).
"""

import functools
from datetime import timedelta

from django.conf import settings
from django.core import signing

CONFIRM = "confirm"
UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
EXPORT = "export"
PURPOSES = {CONFIRM, UNSUBSCRIBE, PREFERENCES, EXPORT}


class InvalidToken(Exception):
    """Forged, tampered, expired, or made for another purpose."""


def _salt(purpose):
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return f"rundbrief.audience.token.{purpose}"


def _max_age(purpose):
    if purpose == CONFIRM:
        return timedelta(days=settings.RUNDBRIEF_UNCONFIRMED_DAYS)
    if purpose == EXPORT:
        return timedelta(hours=settings.RUNDBRIEF_EXPORT_LINK_HOURS)
    # Unsubscribe and preference links must keep working in every mail ever sent (RFC 8058 §3.1).
    return None


@functools.lru_cache(maxsize=16)
def _signer(purpose, secret_key):
    # The same signer signing.dumps() builds on every call; the delivery engine makes two tokens per
    # message, so it is built once per purpose (and per key, so a changed SECRET_KEY takes effect).
    return signing.TimestampSigner(key=secret_key, salt=_salt(purpose))


def make_token(purpose, public_id, nonce=""):
    payload = {"i": public_id}
    if nonce:
        payload["n"] = nonce
    return _signer(purpose, settings.SECRET_KEY).sign_object(payload, compress=False)


def read_token(purpose, token):
    """(public_id, nonce) from a token, or InvalidToken."""
    if not isinstance(token, str) or len(token) > 300:
        raise InvalidToken
    try:
        payload = signing.loads(token, salt=_salt(purpose), max_age=_max_age(purpose))
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        raise InvalidToken from None
    if not isinstance(payload, dict) or not isinstance(payload.get("i"), str):
        raise InvalidToken
    return payload["i"], payload.get("n", "")
