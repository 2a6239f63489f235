"""Cheap reachability probes shared by /readyz and `rundbrief check --deploy`."""

import shutil
import smtplib

from django.conf import settings
from django.db import connection

from rundbrief.config import ConfigError
from rundbrief.outbound.transport import DEVMAIL_URL, parse_transport

PROBE_TIMEOUT = 2.0


def database_problem() -> str:
    """ "" when the default database answers `SELECT 1`, else why not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        connection.close()  # a broken connection must not be reused by the next request
        return f"{type(exc).__name__}: {exc}".strip()[:200]
    return ""


def disk_problem(minimum_bytes: int | None = None) -> str:
    """ "" when the file system of RUNDBRIEF_VAR_DIR (the SQLite database, captured mail, backups) has
    at least RUNDBRIEF_MIN_FREE_DISK_MB free, else how little is left."""
    minimum = settings.RUNDBRIEF_MIN_FREE_DISK_MB * 1024 * 1024 if minimum_bytes is None else minimum_bytes
    try:
        free = shutil.disk_usage(settings.VAR_DIR).free
    except OSError as exc:
        return f"{settings.VAR_DIR}: {exc.strerror or exc}"
    if free < minimum:
        return f"{settings.VAR_DIR}: only {free // (1024 * 1024)} MB free"
    return ""


def smtp_url() -> str:
    """The transport readiness is judged by: the first DELIVERY_SMTP_URLS entry."""
    urls = settings.DELIVERY_SMTP_URLS
    return urls[0] if urls else (settings.SMTP_URL or DEVMAIL_URL)


def smtp_problem(url: str | None = None, timeout: float = PROBE_TIMEOUT) -> str:
    """ "" when the transport greets us (220) and accepts QUIT, else why not.

    Only connect, EHLO-less greeting and QUIT: no STARTTLS, no AUTH — the probe must stay
    cheap and must not count against the relay's login limits.
    """
    url = url or smtp_url()
    try:
        target = parse_transport(url)
    except ConfigError as exc:
        return str(exc)
    cls = smtplib.SMTP_SSL if target.use_ssl else smtplib.SMTP
    try:
        client = cls(target.host, target.port, timeout=timeout)
        try:
            client.quit()
        except smtplib.SMTPException:
            client.close()
    except (OSError, smtplib.SMTPException) as exc:
        return f"{target.host}:{target.port}: {type(exc).__name__}: {exc}".strip()[:200]
    return ""
