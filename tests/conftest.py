"""Test session setup: every test starts from the database a fresh install has, and leaves no files.

The fixtures tests name (topics, finance, smtp_inbox, sign_up, …) live in tests/support/fixtures.py;
the helpers tests import live in tests/support/ (see its __init__.py). Nothing here is imported.
"""

import pytest

pytest_plugins = ["tests.support.fixtures"]


def _transactional(request):
    marker = request.node.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or (len(marker.args) > 0 and marker.args[0])):
        return True
    return "transactional_db" in request.fixturenames or "live_server" in request.fixturenames


@pytest.fixture(autouse=True)
def _sqlite_ledger_flush_allowed(request):
    """Transactional tests end with a flush (DELETE FROM every table on SQLite), which the
    consent ledger's append-only trigger refuses. Lift the delete trigger for the flush only;
    every test starts with it in place. (PostgreSQL flushes by TRUNCATE, which it allows.)"""
    if not _transactional(request):
        yield
        return
    request.getfixturevalue("_django_db_helper")
    import importlib

    from django.db import connection

    triggers = importlib.import_module("rundbrief.audience.migrations.0002_consent_ledger_triggers")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for sql in triggers.SQLITE_DROP:
                cursor.execute(sql)
            for sql in triggers.SQLITE_CREATE:
                cursor.execute(sql)
    yield
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for sql in triggers.SQLITE_DROP:
                cursor.execute(sql)


@pytest.fixture(autouse=True)
def _default_consent_texts(request):
    """A transactional test's flush also empties tables that data migrations filled; put the
    default consent texts back so every test sees the database as a fresh install does."""
    if _transactional(request):
        import importlib

        from rundbrief.audience.models import ConsentText

        request.getfixturevalue("_django_db_helper")
        texts = importlib.import_module("rundbrief.audience.migrations.0003_default_consent_texts").TEXTS
        for language, text in texts.items():
            if not ConsentText.objects.filter(language=language).exists():
                ConsentText.objects.create(language=language, text=text)
    yield


@pytest.fixture(scope="session")
def _service_mail_sink():
    """Service mail leaves over SMTP, never through Django's mail backends (rundbrief/outbound/);
    what a test does not read from its own server (smtp_inbox) lands here, not on 127.0.0.1:1025."""
    from tests.support.smtp import SmtpServer

    with SmtpServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _service_mail_inline(settings, _service_mail_sink):
    """Tests read the double-opt-in mail right after the request; production sends it after the
    response (rundbrief/audience/outbox.py), which tests/test_double_opt_in.py checks on its own."""
    settings.RUNDBRIEF_SERVICE_MAIL_ASYNC = False
    settings.SMTP_URL = _service_mail_sink.url


def pytest_sessionfinish(session, exitstatus):
    """Remove the SQLite test database's side files (-wal, -shm, and the writer lock's -lock file)
    once Django has dropped the database itself; otherwise every run leaves three files in var/."""
    from pathlib import Path

    from django.conf import settings

    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if not name or settings.DATABASES["default"]["ENGINE"] != "rundbrief.db.sqlite3" or Path(name).exists():
        return
    for suffix in ("-wal", "-shm", "-lock"):
        Path(f"{name}{suffix}").unlink(missing_ok=True)
