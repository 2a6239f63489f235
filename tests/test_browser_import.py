"""An administrator imports a German Excel export through the admin (real chromium): upload, the
preview with its column mapping and first rows in German, then the import and its counts."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from rundbrief.audience.models import Subscriber
from rundbrief.newsroom.models import Topic
from tests.support.browser import chromium_page

pytestmark = [pytest.mark.browser]

EXCEL = (
    "email;Vorname;consented_at;confirmed_at\r\n"
    "juergen@example.de;Jürgen;04.12.2026 09:30;04.12.2026 09:41\r\n"
    "ohne.zeit@example.de;Otto;;04.12.2026 09:41\r\n"
)


@pytest.fixture
def live_admin(transactional_db, live_server, settings, monkeypatch, tmp_path):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SITE_URL = live_server.url
    settings.VAR_DIR = tmp_path
    get_user_model().objects.create_superuser("inhaber", "inhaber@musterhaus.example", "geheim-123")
    Topic.objects.create(name="Sonderangebote", slug="sonderangebote")
    return live_server


def test_an_excel_file_is_previewed_then_imported_from_the_admin(live_admin, tmp_path):
    upload = tmp_path / "Kunden.csv"
    upload.write_bytes(EXCEL.encode("cp1252"))
    with chromium_page() as page:
        page.goto(live_admin.url + "/admin/login/")
        page.fill("#id_username", "inhaber")
        page.fill("#id_password", "geheim-123")
        page.click("input[type=submit]")
        page.goto(live_admin.url + "/admin/audience/subscriber/")
        page.click("text=Abonnenten importieren")
        page.set_input_files("#id_file", str(upload))
        page.select_option("#id_format", "rundbrief")
        page.click("input[type=submit]")

        preview = page.locator("#content-main").inner_text()
        assert "Kunden.csv, gelesen als Export von Rundbrief (Windows-1252, Semikolon als Trennzeichen)" in preview
        assert "Vorname\tnicht importiert" in preview  # the column mapping: not imported
        assert "Vorname: Jürgen" in preview  # umlauts read from Windows-1252
        assert "bestätigter Abonnent" in preview
        assert "abgewiesen: consented_at: no consent time" in preview
        assert not Subscriber.objects.exists()

        page.click("text=Jetzt importieren")
        done = page.locator("#content-main").inner_text()
        assert "Kunden.csv importiert." in done and "Zeile 3: consented_at: no consent time" in done
    assert list(Subscriber.objects.values_list("email", "status")) == [("juergen@example.de", "confirmed")]
    assert not any((Path(tmp_path) / "imports").iterdir())
