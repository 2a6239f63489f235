"""Around the limits: IPv6 counted per /64, JSON bodies only (no cross-site simple requests), and an
explicit CORS policy (docs/api.md, "Browsers and CORS")."""

import json

import pytest

from rundbrief.audience.models import ConsentText, SignupIntake, Subscriber

pytestmark = pytest.mark.django_db
URL = "/api/v1/subscriptions"


def body(address):
    return json.dumps({"email": address, "consent_text_version": ConsentText.current("de").version})


def test_forty_addresses_of_one_ipv6_slash_64_share_one_limit(sign_up, smtp_inbox, topics, settings, one_rate_window):
    settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE = 3
    codes = [sign_up(f"r{i}@example.de", ip=f"2001:db8:1:2::{i + 1:x}").status_code for i in range(40)]
    assert codes[:3] == [200, 200, 200] and set(codes[3:]) == {429}
    assert sign_up("nachbar@example.de", ip="2001:db8:1:3::1").status_code == 200  # the next /64 is someone else


def test_a_text_plain_body_is_refused_with_415_and_creates_nobody(client, topics):
    response = client.post(URL, body("anna@example.de"), content_type="text/plain", HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 415 and "application/json" in response.json()["detail"]
    assert not Subscriber.objects.exists() and not SignupIntake.objects.exists()
    response = client.post(URL, "email=anna%40example.de", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_a_body_of_three_megabytes_answers_413_in_json(client, topics):
    huge = json.dumps({"email": "anna@example.de", "padding": "x" * 3_000_000})
    response = client.post(URL, huge, content_type="application/json")
    assert response.status_code == 413 and response["Content-Type"] == "application/json"
    assert "larger than" in response.json()["detail"] and not SignupIntake.objects.exists()


def test_json_from_a_program_without_an_origin_still_works(client, topics):
    response = client.post(URL, body("anna@example.de"), content_type="application/json")
    assert response.status_code == 202 and "Access-Control-Allow-Origin" not in response


def test_a_preflight_from_an_origin_not_listed_is_refused(client):
    response = client.options(URL, HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert response.status_code == 403 and "Access-Control-Allow-Origin" not in response


def test_a_listed_origin_gets_a_preflight_answer_and_its_allow_origin(client, topics, settings):
    settings.RUNDBRIEF_API_CORS_ORIGINS = ["https://shop.musterhaus.example"]
    origin = {"HTTP_ORIGIN": "https://shop.musterhaus.example"}
    preflight = client.options(
        URL, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST", HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type", **origin
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://shop.musterhaus.example"
    assert "Content-Type" in preflight["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in preflight  # bearer tokens only, never cookies
    response = client.post(URL, body("anna@example.de"), content_type="application/json", **origin)
    assert response.status_code == 202 and response["Access-Control-Allow-Origin"] == origin["HTTP_ORIGIN"]
