"""The admin login stops trying after repeated failures, per user name and per client, even for the
right password, until the window has passed (ops/loginthrottle.py)."""

import pytest
from django.contrib.auth.models import User

from rundbrief.ops import loginthrottle

pytestmark = pytest.mark.django_db
PASSWORD = "Richtig-2026-geheim"


@pytest.fixture
def erika(db):
    return User.objects.create_superuser("erika", "erika@musterhaus.example", PASSWORD)


def login(client, password, username="erika", ip="198.51.100.7"):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_after_five_wrong_passwords_even_the_right_one_is_refused(client, erika, settings):
    settings.RUNDBRIEF_LOGIN_FAILURES_PER_USER = 5
    for _ in range(5):
        assert login(client, "falsch").status_code == 200
    refused = login(client, PASSWORD, ip="198.51.100.8")  # another client: the user name is locked
    assert refused.status_code == 200 and "Viertelstunde" in refused.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_right_password_within_the_limit_logs_in(client, erika):
    for _ in range(3):
        login(client, "falsch")
    assert login(client, PASSWORD).status_code == 302 and client.session["_auth_user_id"] == str(erika.pk)


def test_one_client_guessing_many_user_names_is_stopped_too(client, erika, settings):
    settings.RUNDBRIEF_LOGIN_FAILURES_PER_IP = 10
    for i in range(10):
        login(client, "falsch", username=f"konto{i}")
    refused = login(client, PASSWORD)
    assert "Viertelstunde" in refused.content.decode() and "_auth_user_id" not in client.session
    assert login(client, PASSWORD, ip="198.51.100.99").status_code == 302  # another client may


def test_the_lock_ends_with_the_window(client, erika, settings, monkeypatch):
    settings.RUNDBRIEF_LOGIN_FAILURES_PER_USER = 2
    for _ in range(2):
        login(client, "falsch")
    assert "Viertelstunde" in login(client, PASSWORD).content.decode()
    later = __import__("time").time() + loginthrottle.LOCKOUT_SECONDS + 1
    monkeypatch.setattr(loginthrottle.windows.time, "time", lambda: later)
    assert login(client, PASSWORD).status_code == 302
