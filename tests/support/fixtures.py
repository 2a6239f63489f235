"""The fixtures several test files use, registered once by tests/conftest.py (`pytest_plugins`).

A test names a fixture as a parameter and never imports it: an imported fixture shadows nothing
pytest needs and makes every use of it a redefinition in the linter's eyes (ruff F811).
"""

import datetime as dt
import io
import logging
import types
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from rundbrief.audience import ratelimit
from rundbrief.audience.models import ConsentText
from rundbrief.newsroom.models import Article, SiteProfile, Topic
from rundbrief.ops.logs import make_formatter
from tests.support.smtp import SmtpServer

BERLIN = ZoneInfo("Europe/Berlin")


# -- newsroom ----------------------------------------------------------------
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
def finance(topics):
    return topics["finanznachrichten"]


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


# -- audience ----------------------------------------------------------------
@pytest.fixture
def smtp_inbox(settings):
    """The test SMTP server as SMTP_URL: the service mail (double opt-in, export) lands here."""
    # Without PIPELINING, as the sign-up tests' server always was: the client's step-by-step path.
    with SmtpServer(pipelining=False) as server:
        settings.SMTP_URL = server.url  # service mail's transport (rundbrief/outbound/)
        settings.SITE_URL = "http://news.musterhaus.example"
        settings.ALLOWED_HOSTS = ["testserver", "news.musterhaus.example"]
        yield server


@pytest.fixture
def sign_up(client, django_capture_on_commit_callbacks):
    """POST the newsletter box as a reader would, running the after-commit mail."""

    def post(address, *, prefix="", language="de", client=client, ip="203.0.113.77", **extra):
        data = {"email": address, "consent_text": ConsentText.current(language).pk, "page": "/artikel/gold-rekord/"}
        data.update(extra)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"{prefix}/newsletter/", data, REMOTE_ADDR=ip, HTTP_USER_AGENT="Mozilla/5.0 (Testbrowser)"
            )

    return post


@pytest.fixture
def one_rate_window(monkeypatch):
    """Holds the rate limiter's clock in the middle of one window.

    The sign-up limits count in fixed minutes of the wall clock (audience/ratelimit.py): a test
    that sends N+1 requests against a limit of N and straddles a minute boundary sees the count
    start afresh and the last request let through. Pinning the limiter's clock keeps such a test
    in one window; the rest of the code keeps the real clock."""
    moment = timezone.now().replace(second=30, microsecond=0)
    monkeypatch.setattr(ratelimit, "timezone", types.SimpleNamespace(now=lambda: moment))
    return moment


# -- operations --------------------------------------------------------------
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
