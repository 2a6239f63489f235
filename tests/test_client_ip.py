"""Behind a reverse proxy, rate limits and consent evidence use the reader's address, which no client can forge."""

import pytest
from django.test import RequestFactory

from rundbrief.audience.clientip import client_ip


def request(remote, forwarded=None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


def test_without_trusted_proxies_x_forwarded_for_is_ignored(settings):
    settings.RUNDBRIEF_TRUSTED_PROXIES = []
    assert client_ip(request("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_a_trusted_proxy_passes_on_the_readers_address(settings):
    settings.RUNDBRIEF_TRUSTED_PROXIES = ["10.0.0.0/8", "127.0.0.1"]
    assert client_ip(request("127.0.0.1", "198.51.100.7, 10.1.2.3")) == "198.51.100.7"


def test_a_client_cannot_forge_its_address_through_the_proxy(settings):
    settings.RUNDBRIEF_TRUSTED_PROXIES = ["127.0.0.1"]
    # The reader wrote "1.2.3.4" themselves; the proxy appended the address it saw.
    assert client_ip(request("127.0.0.1", "1.2.3.4, 198.51.100.7")) == "198.51.100.7"


def test_an_untrusted_sender_of_the_header_is_taken_at_its_own_address(settings):
    settings.RUNDBRIEF_TRUSTED_PROXIES = ["127.0.0.1"]
    assert client_ip(request("203.0.113.9", "198.51.100.7")) == "203.0.113.9"


@pytest.mark.parametrize("header", ["", "nonsense", "999.1.1.1", ","])
def test_a_garbled_header_falls_back_to_the_proxy_address(settings, header):
    settings.RUNDBRIEF_TRUSTED_PROXIES = ["127.0.0.1"]
    assert client_ip(request("127.0.0.1", header)) == "127.0.0.1"


@pytest.mark.django_db
def test_two_readers_behind_one_proxy_have_separate_rate_limits(client, settings, one_rate_window):
    from rundbrief.audience.models import ConsentText

    settings.RUNDBRIEF_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE = 2
    text = ConsentText.current("de").pk

    def post(reader, n):
        return client.post(
            "/newsletter/",
            {"email": f"leser{n}@example.org", "consent_text": text},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR=reader,
        ).status_code

    assert [post("198.51.100.1", n) for n in range(3)] == [200, 200, 429]
    assert post("198.51.100.2", 9) == 200
