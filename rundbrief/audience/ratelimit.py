"""The sign-up limits: fixed one-minute windows counted in the database (rundbrief/db/windows.py),
so a limit holds across gunicorn workers and hosts."""

import ipaddress

from django.conf import settings
from django.utils import timezone

from rundbrief.audience.addresses import subject_hash
from rundbrief.db import windows

WINDOW_SECONDS = 60  # the settings say "per minute"


def ip_key(ip: str) -> str:
    # The counter table must not become a second log of visitors' addresses; keyed, because
    # an unkeyed hash of an IPv4 address is reversed by trying all 2^32 of them.
    # The same keyed HMAC that stands in for addresses (addresses.subject_hash).
    return "ip:" + subject_hash(_network(ip) or "unknown")[:40]


def _network(ip: str) -> str:
    """IPv6 counted per /64: one customer line usually gets a whole /64 (RFC 6177), so counting single
    addresses let one sender use 2^64 of them. IPv4 stays per address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is the IPv4 client 192.0.2.1
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def within_limit(key: str, limit: int) -> bool:
    """Count one request against `key`; False once this minute's window holds more than `limit` requests.

    One upsert that returns the new count (windows.count): a sign-up holds the SQLite write lock
    for one statement (docs/benchmarks.md). The clock is django.utils.timezone's, so a test can
    hold it (tests/support/fixtures.py, one_rate_window)."""
    return windows.count(key, WINDOW_SECONDS, timezone.now().timestamp()) <= limit


def signup_allowed(ip: str) -> bool:
    """Count one sign-up (form or API) against the per-IP window and the global breaker.

    A request refused for its IP does not count against the global breaker, so one
    sender cannot trip it for everyone. Call it inside the sign-up's transaction: the
    counters then commit with the request instead of as writes of their own.
    """
    if not within_limit(ip_key(ip), settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE):
        return False
    return within_limit("signup:global", settings.RUNDBRIEF_SIGNUP_GLOBAL_PER_MINUTE)
