"""The DKIM keys configured in settings (DKIM_* in docs/settings.md), loaded once per process."""

import functools

from django.conf import settings

from rundbrief.outbound.dkim import load_key


@functools.lru_cache(maxsize=8)
def _load(path, domain, selector):
    return load_key(path, domain, selector)


def signing_keys(from_email: str):
    """RSA first, then the optional Ed25519 key (RFC 8463 recommends signing with both)."""
    domain = settings.DKIM_DOMAIN or from_email.rpartition("@")[2]
    keys = []
    if settings.DKIM_PRIVATE_KEY_FILE:
        keys.append(_load(settings.DKIM_PRIVATE_KEY_FILE, domain, settings.DKIM_SELECTOR))
    if settings.DKIM_ED25519_KEY_FILE:
        keys.append(_load(settings.DKIM_ED25519_KEY_FILE, domain, settings.DKIM_ED25519_SELECTOR or "ed25519"))
    return keys
