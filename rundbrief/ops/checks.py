"""Rundbrief's own `rundbrief check --deploy` checks, beside Django's (security.W0xx).

Each problem names the setting and gives the fix in one line (the `hint`).
Registered with deploy=True: they run only with `--deploy`, never on every start.
"""

import os
import zoneinfo

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from rundbrief.ops import probes
from rundbrief.outbound.dkim import load_key


def _secret_key_file():
    return settings.VAR_DIR / "secret_key"


@register(Tags.security, deploy=True)
def check_secret_key(app_configs=None, **kwargs):
    """SECRET_KEY must come from the environment (a secrets store), not from var/secret_key.

    The generated file is fine for trying Rundbrief out; in production it lives beside
    the database, ends up in backups, and differs per host when several hosts serve
    the site (their signed links would not open on each other).
    """
    if os.environ.get("SECRET_KEY"):
        if len(set(settings.SECRET_KEY)) < 5 or len(settings.SECRET_KEY) < 50:
            return [
                Error(
                    "SECRET_KEY is shorter than 50 characters or has fewer than 5 distinct ones.",
                    hint="Set SECRET_KEY to `python3 -c 'import secrets; print(secrets.token_urlsafe(50))'`.",
                    id="rundbrief.E001",
                )
            ]
        return []
    return [
        Warning(
            f"SECRET_KEY is the one generated into {_secret_key_file()}.",
            hint="Set SECRET_KEY in the service's environment file (the same value on every host).",
            id="rundbrief.W001",
        )
    ]


@register(Tags.security, deploy=True)
def check_site_url(app_configs=None, **kwargs):
    if settings.SITE_URL.startswith("https://"):
        return []
    return [
        Error(
            f"SITE_URL={settings.SITE_URL!r} is not https: mailed links and cookies travel in clear text.",
            hint="Set SITE_URL=https://news.example.com behind a TLS-terminating proxy.",
            id="rundbrief.E002",
        )
    ]


@register(deploy=True)
def check_hash_key(app_configs=None, **kwargs):
    if settings.RUNDBRIEF_HASH_KEY:
        return []
    return [
        Warning(
            "RUNDBRIEF_HASH_KEY is unset, so it is derived from SECRET_KEY: rotating that key "
            "would forget every suppressed (erased, bounced) address.",
            hint="Set RUNDBRIEF_HASH_KEY to a random secret once and never change it (docs/settings.md).",
            id="rundbrief.W002",
        )
    ]


@register(deploy=True)
def check_dkim_keys(app_configs=None, **kwargs):
    problems = []
    if not settings.DKIM_PRIVATE_KEY_FILE:
        problems.append(
            Warning(
                "DKIM_PRIVATE_KEY_FILE is unset: newsletters go out unsigned and Gmail/Yahoo "
                "reject bulk mail without DKIM.",
                hint="Run `rundbrief dkim keygen --out /etc/rundbrief/dkim.pem`, publish the TXT record, "
                "set DKIM_PRIVATE_KEY_FILE.",
                id="rundbrief.W003",
            )
        )
    for name in ("DKIM_PRIVATE_KEY_FILE", "DKIM_ED25519_KEY_FILE"):
        path = getattr(settings, name)
        if not path:
            continue
        try:
            load_key(path, settings.DKIM_DOMAIN or "example.com", "probe")
        except Exception as exc:
            problems.append(
                Error(
                    f"{name}={path!r} cannot be read as a private key ({type(exc).__name__}).",
                    hint="Check the path and that the service user can read it (chmod 0640, group rundbrief).",
                    id="rundbrief.E003",
                )
            )
    return problems


@register(deploy=True)
def check_smtp_transport(app_configs=None, **kwargs):
    problem = probes.smtp_problem()
    if not problem:
        return []
    return [
        Error(
            f"SMTP transport unreachable: {problem}.",
            hint="Start the MTA (Postfix) or fix the first entry of DELIVERY_SMTP_URLS / SMTP_URL.",
            id="rundbrief.E004",
        )
    ]


@register(deploy=True)
def check_bounce_domain(app_configs=None, **kwargs):
    if settings.BOUNCE_DOMAIN:
        return []
    return [
        Warning(
            "BOUNCE_DOMAIN is unset: bounces go to the sender's own domain, where nothing processes them.",
            hint="Set BOUNCE_DOMAIN=bounces.example.com and point its MX at `rundbrief bounces receive` "
            "(docs/operations.md).",
            id="rundbrief.W004",
        )
    ]


@register(deploy=True)
def check_time_zone(app_configs=None, **kwargs):
    try:
        zoneinfo.ZoneInfo(settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return [
            Error(
                f"TIME_ZONE={settings.TIME_ZONE!r} is not an IANA time zone.",
                hint="Set TIME_ZONE=Europe/Berlin (any name from `timedatectl list-timezones`); "
                "install the tzdata package if names are missing.",
                id="rundbrief.E005",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_trusted_proxies(app_configs=None, **kwargs):
    # An https SITE_URL means TLS ends in a proxy (gunicorn serves plain HTTP on 127.0.0.1). Without
    # the proxy in RUNDBRIEF_TRUSTED_PROXIES every request seems to come from it: ten sign-ups a
    # minute from anyone block sign-up for everyone, and every consent record names the proxy.
    if settings.RUNDBRIEF_TRUSTED_PROXIES or not settings.SITE_URL.startswith("https://"):
        return []
    return [
        Warning(
            "RUNDBRIEF_TRUSTED_PROXIES is empty behind a TLS proxy: every reader looks like the proxy to the "
            "per-IP limit and in the consent evidence.",
            hint="Set RUNDBRIEF_TRUSTED_PROXIES to the proxy's address, e.g. 127.0.0.1 (docs/operations.md).",
            id="rundbrief.W005",
        )
    ]
