"""https from the environment: SSL redirect and HSTS behind the proxy, probes exempt, and
`check --deploy` quiet about them once set (Django's security.W004 and W008)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def https_behind_proxy(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


@pytest.mark.django_db
def test_plain_http_is_redirected_and_https_gets_hsts(client, https_behind_proxy):
    response = client.get("/impressum/", HTTP_X_FORWARDED_PROTO="http")
    assert response.status_code == 301 and response["Location"].startswith("https://")
    response = client.get("/healthz", HTTP_X_FORWARDED_PROTO="http")
    assert response.status_code == 200  # probes are scraped over http on the host
    response = client.get("/healthz", HTTP_X_FORWARDED_PROTO="https")
    assert response["Strict-Transport-Security"] == "max-age=31536000"


def test_the_environment_sets_them_and_check_deploy_stops_warning(tmp_path):
    code = (
        "import django, json; django.setup(); from django.conf import settings; from django.core import checks;"
        "ids = [m.id for m in checks.run_checks(include_deployment_checks=True, tags=['security'])];"
        "print(json.dumps([settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS,"
        " settings.SECURE_PROXY_SSL_HEADER, ids]))"
    )
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="rundbrief.settings",
        RUNDBRIEF_VAR_DIR=str(tmp_path),
        SITE_URL="https://news.musterhaus.example",
        RUNDBRIEF_TRUSTED_PROXIES="127.0.0.1",
        SECURE_SSL_REDIRECT="1",
        SECURE_HSTS_SECONDS="31536000",
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    redirect, hsts, header, ids = json.loads(result.stdout.strip().splitlines()[-1])
    assert (redirect, hsts, header) == (True, 31536000, ["HTTP_X_FORWARDED_PROTO", "https"])
    assert "security.W004" not in ids and "security.W008" not in ids
