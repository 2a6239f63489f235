"""Reading configuration from the environment.

Every setting Rundbrief reads is listed in docs/settings.md; tests/test_docs.py
fails when one is read here but not documented there.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A setting in the environment cannot be understood."""


def env_str(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off")


def env_int(name, default):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None


def env_float(name, default):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None


def env_choice(name, choices, default):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word not in choices:
        raise ConfigError(f"{name}={raw!r}: expected one of {', '.join(choices)}")
    return word


def env_list(name, default=()):
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def secret_key(var_dir: Path):
    """SECRET_KEY from the environment, else one generated once into var/."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = var_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # O_EXCL: two processes starting at once must not write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def redact_url(url: str) -> str:
    """`url` with its password replaced, for error messages: they end up in terminals and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return "(a URL that cannot be parsed)"
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def parse_database_url(url: str, name: str = "DATABASE_URL", **options) -> dict:
    """Django's DATABASES entry for `url` (dj-database-url), or ConfigError naming `name`, without the password."""
    import dj_database_url

    try:
        return dj_database_url.parse(url, **options)
    except ValueError as exc:  # dj_database_url.UnknownSchemeError, a bad port, …
        scheme = urlsplit(url).scheme if "://" in url else ""
        reason = (
            f"unknown scheme {scheme!r}"
            if isinstance(exc, dj_database_url.UnknownSchemeError)
            else str(exc).rstrip(".")
        )
        raise ConfigError(
            f"{name}={redact_url(url)!r}: {reason}; expected sqlite:///PATH or postgres://USER:PASSWORD@HOST:PORT/NAME"
        ) from None
