"""Where mail leaves: one `Transport` per SMTP URL, and the one parser for SMTP_URL and DELIVERY_SMTP_URLS.

    smtp://host:port                   plain (port 25)
    smtp+starttls://… or ?starttls=1   STARTTLS (port 587, RFC 3207)
    smtps://…                          implicit TLS (port 465, RFC 8314)

Campaign transports may carry their limits in the query:

    smtp://relay.example:25?max_connections=4&messages_per_connection=500&per_second=100&per_hour=0&from_domain=example.com

settings.py parses every URL once at start, so a bad value stops every command
with `configuration error: NAME=…`; the code that sends parses the same strings
with the same function (service mail through `service_transport()`).
"""

import functools
import hashlib
import math
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings

from rundbrief.config import TRUE_WORDS, ConfigError, redact_url

# Unset SMTP_URL: the embedded devmail capture that `rundbrief serve` starts (docs/settings.md).
DEVMAIL_URL = "smtp://127.0.0.1:1025"


@dataclass(frozen=True)
class Transport:
    name: str
    host: str
    port: int
    user: str = ""
    password: str = ""
    use_ssl: bool = False
    use_tls: bool = False
    max_connections: int = 4
    messages_per_connection: int = 1000
    per_second: float = 0.0
    per_hour: float = 0.0
    from_domain: str = ""

    @property
    def limit_key(self) -> str:
        """Names this transport's rate windows alike in every worker on every host: host, port and
        a hash of the user (an ESP's quota is per account), never the password. Entries with the
        same three share one budget, whatever their order in DELIVERY_SMTP_URLS."""
        account = hashlib.sha256(f"{self.host}:{self.port}:{self.user}".encode()).hexdigest()[:16]
        return f"{self.host[:60]}:{self.port}:{account}"


def parse_transport(url: str, index: int = 0, *, setting: str = "DELIVERY_SMTP_URLS") -> Transport:
    """The transport of `url`, or ConfigError naming `setting` (never the password)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    shown = redact_url(url)
    if scheme not in {"smtp", "smtps", "smtp+starttls"}:
        raise ConfigError(f"{setting}={shown!r}: scheme must be smtp, smtp+starttls or smtps")
    if not parts.hostname:
        raise ConfigError(f"{setting}={shown!r}: no host")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    use_ssl = scheme == "smtps"
    use_tls = scheme == "smtp+starttls" or query.get("starttls", "0").lower() in TRUE_WORDS
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{setting}={shown!r}: bad port") from None
    if port is None:
        port = 465 if use_ssl else (587 if use_tls else 25)

    def number(key, default, kind=int):
        try:
            return kind(query.get(key, default))
        except ValueError:
            raise ConfigError(f"{setting}={shown!r}: {key}={query[key]!r} is not a number") from None

    def rate(key):
        value = number(key, 0, float)
        # nan would compare as "no limit" and inf cannot be counted in whole messages: refuse both.
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{setting}={shown!r}: {key}={query[key]!r} must be 0 (no limit) or a positive number")
        return value

    per_second, per_hour = rate("per_second"), rate("per_hour")
    if 0 < per_second < 1 / 3600:
        # Its window would be longer than an hour and share the hour window's row (fixed windows of whole seconds).
        raise ConfigError(f"{setting}={shown!r}: per_second={query['per_second']!r} is below one an hour; use per_hour")
    return Transport(
        name=f"{index}:{parts.hostname}:{port}",
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_ssl=use_ssl,
        use_tls=use_tls,
        max_connections=max(1, number("max_connections", 4)),
        messages_per_connection=max(1, number("messages_per_connection", 1000)),
        per_second=per_second,
        per_hour=per_hour,
        from_domain=query.get("from_domain", "").lower(),
    )


def delivery_transports(urls) -> list[Transport]:
    """The campaign transports of DELIVERY_SMTP_URLS, in order."""
    return [parse_transport(url, index) for index, url in enumerate(urls)]


@functools.lru_cache(maxsize=8)
def _service(url: str) -> Transport:
    return parse_transport(url, setting="SMTP_URL")


def service_transport() -> Transport:
    """The transport of service mail (sign-up confirmations, export links): SMTP_URL, parsed once per value."""
    return _service(settings.SMTP_URL or DEVMAIL_URL)
