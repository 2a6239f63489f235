"""Signed, single-purpose tokens for the links we mail out.

Each purpose has its own salt, so a token made for one purpose never opens
another (an unsubscribe token cannot confirm). django.core.signing compares
signatures in constant time and also accepts keys in SECRET_KEY_FALLBACKS, so
SECRET_KEY can be rotated without breaking links already mailed
(docs/settings.md). Tokens carry the subscriber's opaque public_id, never the
address (no e-mail address in any URL: docs/decisions.md, "Tokens are signed, not stored").
"""

import base64
import functools
import hashlib
import hmac
import re
import time
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
    if purpose == PREFERENCES:
        # A preference link opens personal data (the address, masked, the topics, the export button)
        # and travels in forwarded mails, so it expires; its holder can have a fresh one mailed to
        # the address (views.preferences; docs/decisions.md, "Preference links expire, unsubscribe links do not").
        return timedelta(days=settings.RUNDBRIEF_PREFERENCE_LINK_DAYS)
    # Unsubscribe links must keep working in every mail ever sent (RFC 8058 §3.1).
    return None


@functools.lru_cache(maxsize=16)
def _signer(purpose, secret_key):
    # The same signer signing.dumps() builds on every call; the delivery engine makes two tokens per
    # message, so it is built once per purpose (and per key, so a changed SECRET_KEY takes effect).
    return signing.TimestampSigner(key=secret_key, salt=_salt(purpose))


@functools.lru_cache(maxsize=16)
def _signature_key(purpose, secret_key):
    # What django.utils.crypto.salted_hmac derives for TimestampSigner(salt=…).signature(): sha256(salt + "signer" + key).
    return hashlib.sha256(f"{_salt(purpose)}signer{secret_key}".encode()).digest()


@functools.lru_cache(maxsize=2)
def _timestamp(second):
    return signing.b62_encode(second)


_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]+")


def make_token(purpose, public_id, nonce=""):
    """The token TimestampSigner.sign_object() makes, built directly: the delivery engine makes two per
    message, and the generic path (a signer, a JSON encoder, a derived key and a pure-Python HMAC per
    call) cost about a tenth of a worker's CPU. tests/test_fast_hashes.py proves both give the same token."""
    if nonce or not _PLAIN_ID.fullmatch(public_id):
        payload = {"i": public_id, "n": nonce} if nonce else {"i": public_id}
        return _signer(purpose, settings.SECRET_KEY).sign_object(payload, compress=False)
    data = base64.urlsafe_b64encode(f'{{"i":"{public_id}"}}'.encode()).rstrip(b"=").decode()
    value = f"{data}:{_timestamp(int(time.time()))}"
    mac = hmac.digest(_signature_key(purpose, settings.SECRET_KEY), value.encode(), "sha256")
    return f"{value}:{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def read_token(purpose, token, *, expired_ok=False):
    """(public_id, nonce) from a token, or InvalidToken.

    expired_ok: accept a genuine token past its age, to tell its holder where the link led
    (a used confirmation link answers "already confirmed"); never to change anything."""
    if not isinstance(token, str) or len(token) > 300:
        raise InvalidToken
    try:
        max_age = None if expired_ok else _max_age(purpose)
        payload = signing.loads(token, salt=_salt(purpose), max_age=max_age)
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        raise InvalidToken from None
    if not isinstance(payload, dict) or not isinstance(payload.get("i"), str):
        raise InvalidToken
    return payload["i"], payload.get("n", "")
