"""The commands `make run` calls, and reading configuration from the environment."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from rundbrief import config
from rundbrief.newsroom.models import Article, SiteProfile, Topic
from rundbrief.outbound.transport import parse_transport


@pytest.mark.django_db
def test_load_demo_creates_site_topics_and_articles_and_is_idempotent():
    call_command("load-demo", stdout=io.StringIO())
    counts = (Article.objects.count(), Topic.objects.count())
    assert counts[0] >= 6
    assert sorted(Topic.objects.values_list("name", flat=True)) == [
        "Finanznachrichten",
        "Produktneuheiten",
        "Sonderangebote",
    ]
    assert SiteProfile.load().site_name == "Musterhaus Edelmetalle"
    call_command("load-demo", stdout=io.StringIO())
    assert (Article.objects.count(), Topic.objects.count()) == counts


@pytest.mark.django_db
def test_load_demo_keeps_what_an_editor_changed():
    call_command("load-demo", stdout=io.StringIO())
    SiteProfile.objects.filter(pk=1).update(site_name="Eigener Name")
    Article.objects.filter(slug="goldpreis-wochenausblick").update(title="Redigiert")
    call_command("load-demo", stdout=io.StringIO())
    assert SiteProfile.load().site_name == "Eigener Name"
    assert Article.objects.get(slug="goldpreis-wochenausblick").title == "Redigiert"


@pytest.mark.django_db
def test_ensure_admin_prints_a_random_password_once_and_stores_only_a_hash():
    out = io.StringIO()
    call_command("ensure-admin", stdout=out)
    password = out.getvalue().split("password ")[1].split()[0]
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.check_password(password)
    assert password not in user.password
    again = io.StringIO()
    call_command("ensure-admin", stdout=again)
    assert "exists already" in again.getvalue() and password not in again.getvalue()
    assert get_user_model().objects.count() == 1


@pytest.mark.parametrize(
    "url, expected",
    [
        ("smtp://127.0.0.1:1025", ("127.0.0.1", 1025, "", "", False, False)),
        ("smtps://user:p%40ss@mail.example:465", ("mail.example", 465, "user", "p@ss", True, False)),
        ("smtp+starttls://u:p@mail.example", ("mail.example", 587, "u", "p", False, True)),
        ("smtp://mail.example?starttls=1", ("mail.example", 587, "", "", False, True)),
        ("smtps://mail.example", ("mail.example", 465, "", "", True, False)),
    ],
)
def test_smtp_url_is_parsed(url, expected):
    s = parse_transport(url, setting="SMTP_URL")
    assert (s.host, s.port, s.user, s.password, s.use_ssl, s.use_tls) == expected


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "smtp://host:notaport", "mail.example:25"])
def test_bad_smtp_url_is_a_clear_error(url):
    with pytest.raises(config.ConfigError, match="SMTP_URL"):
        parse_transport(url, setting="SMTP_URL")


def test_bad_boolean_names_the_variable(monkeypatch):
    monkeypatch.setenv("RUNDBRIEF_DEBUG", "vielleicht")
    with pytest.raises(config.ConfigError, match="RUNDBRIEF_DEBUG"):
        config.env_bool("RUNDBRIEF_DEBUG")


def test_secret_key_is_generated_once_into_var_and_then_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = config.secret_key(tmp_path)
    assert len(first) >= 50 and config.secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("SECRET_KEY", "from-env")
    assert config.secret_key(tmp_path) == "from-env"
