"""VERP addresses (variable envelope return path) and deterministic Message-IDs.

Return-Path `bounces+<delivery id>-<mac>@<bounce domain>`: a bounce that comes
back to this address names its delivery. The MAC (HMAC-SHA256, truncated to 10
base32 characters = 50 bits) makes the id unguessable, so forged bounces for
other deliveries are ignored. The same scheme gives each delivery its
Message-ID, so a copy resent after a crash is recognisably the same message.
"""

import functools
import hashlib
import hmac
import re

from django.conf import settings


@functools.lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    # The label keeps the module's former name: addresses already handed out must still verify.
    return hmac.new(secret.encode(), b"rundbrief.delivery.verp", hashlib.sha256).digest()


# Two base32 characters (10 bits) per lookup: the MAC is computed three times per message sent.
_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_B32_PAIRS = [a + b for a in _B32 for b in _B32]


def _mac(kind: str, value: str) -> str:
    """The first 50 bits of HMAC-SHA256 in lower-case base32 — the first ten characters of
    base64.b32encode(digest[:7]), computed without the pure-Python encoder (tests compare both)."""
    digest = hmac.digest(_key(settings.SECRET_KEY), f"{kind}:{value}".encode(), "sha256")
    n = int.from_bytes(digest[:7], "big") >> 6
    pairs = _B32_PAIRS
    return (
        pairs[n >> 40] + pairs[(n >> 30) & 1023] + pairs[(n >> 20) & 1023] + pairs[(n >> 10) & 1023] + pairs[n & 1023]
    )


def bounce_domain(from_email: str) -> str:
    return settings.BOUNCE_DOMAIN or from_email.rpartition("@")[2]


def return_path(delivery_id: int, domain: str) -> str:
    return f"bounces+{delivery_id}-{_mac('verp', str(delivery_id))}@{domain}"


def unsubscribe_mailbox(delivery_id: int, domain: str) -> str:
    """The List-Unsubscribe mailto address (RFC 2369); the receiver withdraws consent for it."""
    return f"unsubscribe+{delivery_id}-{_mac('unsubscribe', str(delivery_id))}@{domain}"


@functools.lru_cache(maxsize=8)
def _pattern(prefix: str):
    """The address pattern for a local-part prefix ("bounces", "unsubscribe"), compiled once."""
    return re.compile(rf"^{re.escape(prefix)}\+(\d{{1,19}})-([a-z2-7]{{10}})@", re.I)


def parse_return_path(address: str, prefix: str = "bounces") -> int | None:
    """The delivery id in a VERP address, or None for anything forged or foreign."""
    match = _pattern(prefix).match(address.strip().strip("<>"))
    if not match:
        return None
    delivery_id, mac = match.group(1), match.group(2).lower()
    kind = "verp" if prefix == "bounces" else prefix
    if not hmac.compare_digest(mac, _mac(kind, delivery_id)):
        return None
    return int(delivery_id)


def message_id(campaign_id: int, delivery_id: int, domain: str) -> str:
    return f"<rb.{campaign_id}.{delivery_id}.{_mac('mid', f'{campaign_id}.{delivery_id}')}@{domain}>"


def welcome_message_id(welcome_id: int, domain: str) -> str:
    """The Message-ID of a welcome mail, fixed by its queue row: a copy resent after a crash is the same
    message. Its own shape, so bounce matching by campaign Message-IDs (`rb.<campaign>.<delivery>`) never takes it."""
    return f"<rb.welcome.{welcome_id}.{_mac('mid-welcome', str(welcome_id))}@{domain}>"
