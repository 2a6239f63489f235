import datetime as dt
import socket
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from rundbrief.newsroom.models import Article, SiteProfile, Topic

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
    names = [("Produktneuheiten", "produktneuheiten"), ("Finanznachrichten", "finanznachrichten"),
             ("Sonderangebote", "sonderangebote")]  # fmt: skip
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
