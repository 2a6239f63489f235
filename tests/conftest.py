import datetime as dt
import io
import logging
import socket
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from rundbrief.newsroom.models import Article, SiteProfile, Topic
from rundbrief.ops.logs import make_formatter

BERLIN = ZoneInfo("Europe/Berlin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def demo_site(db):
    """The Musterhaus Edelmetalle demo: profile, three topics, six or more articles."""
    call_command("load-demo", stdout=open("/dev/null", "w"))
    return SiteProfile.load()


@pytest.fixture
def topics(db):
    names = [
        ("Produktneuheiten", "produktneuheiten"),
        ("Finanznachrichten", "finanznachrichten"),
        ("Sonderangebote", "sonderangebote"),
    ]
    return {slug: Topic.objects.create(name=name, slug=slug, menu_position=i) for i, (name, slug) in enumerate(names)}


@pytest.fixture
def make_article(db):
    counter = iter(range(1, 10_000))

    def make(title=None, topics=(), published_at=None, status=Article.Status.PUBLISHED, **fields):
        n = next(counter)
        article = Article.objects.create(
            title=title or f"Marktbericht {n}",
            slug=fields.pop("slug", f"marktbericht-{n}"),
            status=status,
            published_at=published_at or dt.datetime(2025, 4, 7, 13, 45, tzinfo=BERLIN) - dt.timedelta(days=n),
            **fields,
        )
        article.topics.set(topics)
        return article

    return make


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
    from tests.smtp_server import SmtpServer

    with SmtpServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _service_mail_inline(settings, _service_mail_sink):
    """Tests read the double-opt-in mail right after the request; production sends it after the
    response (rundbrief/audience/outbox.py), which tests/test_double_opt_in.py checks on its own."""
    settings.RUNDBRIEF_SERVICE_MAIL_ASYNC = False
    settings.SMTP_URL = _service_mail_sink.url


@pytest.fixture
def json_log():
    """Everything logged during the test, as RUNDBRIEF_LOG_FORMAT=json writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter("json"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def one_rate_window(monkeypatch):
    """Holds the rate limiter's clock in the middle of one window.

    The sign-up limits count in fixed minutes of the wall clock (audience/ratelimit.py): a test
    that sends N+1 requests against a limit of N and straddles a minute boundary sees the count
    start afresh and the last request let through. Pinning the limiter's clock keeps such a test
    in one window; the rest of the code keeps the real clock."""
    import types

    from django.utils import timezone

    from rundbrief.audience import ratelimit

    moment = timezone.now().replace(second=30, microsecond=0)
    monkeypatch.setattr(ratelimit, "timezone", types.SimpleNamespace(now=lambda: moment))
    return moment


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
