"""`rundbrief check --deploy` names every production gap with a one-line fix."""

import pytest
from django.core import checks

from rundbrief.outbound import dkim
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.django_db


def deploy_issues():
    return {
        message.id: message
        for message in checks.run_checks(include_deployment_checks=True)
        if message.id.startswith("rundbrief.")
    }


@pytest.fixture
def production(settings, monkeypatch, tmp_path):
    """A correctly configured production host: every Rundbrief deploy check passes."""
    key = tmp_path / "dkim.pem"
    key.write_bytes(dkim.private_pem(dkim.generate_key("rsa")))
    monkeypatch.setenv("SECRET_KEY", "x" * 10 + "an-operator-chosen-key-with-enough-entropy-0123456789")
    settings.SECRET_KEY = "x" * 10 + "an-operator-chosen-key-with-enough-entropy-0123456789"
    settings.SITE_URL = "https://news.musterhaus.example"
    settings.RUNDBRIEF_HASH_KEY = "hash-key-set-once"
    settings.DKIM_PRIVATE_KEY_FILE = str(key)
    settings.BOUNCE_DOMAIN = "bounces.musterhaus.example"
    settings.TIME_ZONE = "Europe/Berlin"
    settings.RUNDBRIEF_TRUSTED_PROXIES = ["127.0.0.1"]
    with SmtpServer() as server:
        settings.DELIVERY_SMTP_URLS = [server.url]
        yield settings


def test_a_correct_production_configuration_passes_every_rundbrief_check(production):
    assert deploy_issues() == {}


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda s, m: m.delenv("SECRET_KEY"), "rundbrief.W001"),
        (lambda s, m: setattr(s, "SECRET_KEY", "short"), "rundbrief.E001"),
        (lambda s, m: setattr(s, "SITE_URL", "http://news.musterhaus.example"), "rundbrief.E002"),
        (lambda s, m: setattr(s, "RUNDBRIEF_HASH_KEY", ""), "rundbrief.W002"),
        (lambda s, m: setattr(s, "DKIM_PRIVATE_KEY_FILE", ""), "rundbrief.W003"),
        (lambda s, m: setattr(s, "DKIM_PRIVATE_KEY_FILE", "/nonexistent/dkim.pem"), "rundbrief.E003"),
        (lambda s, m: setattr(s, "DELIVERY_SMTP_URLS", ["smtp://127.0.0.1:9"]), "rundbrief.E004"),
        (lambda s, m: setattr(s, "BOUNCE_DOMAIN", ""), "rundbrief.W004"),
        (lambda s, m: setattr(s, "TIME_ZONE", "Europe/Atlantis"), "rundbrief.E005"),
        (lambda s, m: setattr(s, "RUNDBRIEF_TRUSTED_PROXIES", []), "rundbrief.W005"),
    ],
)
def test_each_gap_is_reported_alone_with_a_one_line_hint(production, monkeypatch, change, expected):
    change(production, monkeypatch)
    issues = deploy_issues()
    assert list(issues) == [expected]
    hint = issues[expected].hint
    assert hint and "\n" not in hint


def test_deploy_checks_do_not_run_without_deploy(settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    assert not [m for m in checks.run_checks() if m.id.startswith("rundbrief.")]
