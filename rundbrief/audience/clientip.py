"""The reader's IP address, for rate limits and consent evidence.

Behind a reverse proxy REMOTE_ADDR is the proxy. X-Forwarded-For is believed
only when the request comes from a proxy listed in RUNDBRIEF_TRUSTED_PROXIES,
and then only as far as the chain of trusted proxies goes: the first address
from the right that is not a trusted proxy is the client. Anything else can be
forged by the client and is ignored.
"""

import functools
import ipaddress

from django.conf import settings


@functools.lru_cache(maxsize=4)
def _networks(entries):
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _trusted(address, networks):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    networks = _networks(tuple(settings.RUNDBRIEF_TRUSTED_PROXIES))
    if not networks or not _trusted(remote, networks):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if _trusted(hop, networks):
            continue
        try:
            return str(ipaddress.ip_address(hop))
        except ValueError:
            return remote  # a garbled header: fall back to what we know
    return remote
