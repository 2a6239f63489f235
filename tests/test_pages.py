"""Standing pages (imprint, privacy notice): the demo's legal links lead somewhere, and a page
never takes over an address the site already uses."""

import io

import pytest
from django.core.management import call_command
from django.urls import resolve

from rundbrief.newsroom.models import Page, SiteProfile

pytestmark = pytest.mark.django_db


def test_every_legal_link_of_the_demo_profile_opens_a_page(client, demo_site):
    profile = SiteProfile.load()
    for url, heading in ((profile.imprint_url, "Impressum"), (profile.privacy_url, "Datenschutzerklärung")):
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        assert f'<h1 class="page-title">{heading}</h1>' in text
        assert profile.hotline_number in text  # in the site's layout, header and all


def test_page_body_is_markdown_rendered_and_sanitised(client):
    Page.objects.create(
        slug="versand", title="Versand", body="## Kosten\n\nAb **100 €** frei.\n\n<script>alert(1)</script>"
    )
    text = client.get("/versand/").content.decode()
    assert "<h2>Kosten</h2>" in text and "<strong>100 €</strong>" in text
    assert "<script>alert(1)</script>" not in text


def test_unknown_page_is_the_sites_404(client, demo_site):
    response = client.get("/gibt-es-nicht/")
    assert response.status_code == 404
    assert "Musterhaus Edelmetalle" in response.content.decode()


@pytest.mark.parametrize("path", ["/suche/", "/newsletter/", "/admin/", "/api/v1/openapi.json", "/healthz"])
def test_a_page_never_hides_an_address_the_site_uses(path):
    slug = path.strip("/").split("/")[0]
    Page.objects.create(slug=slug, title="Überdeckt?", body="nein")
    assert resolve(path).url_name != "page"


def test_load_demo_adds_the_pages_once_and_keeps_an_editors_text():
    call_command("load-demo", stdout=io.StringIO())
    assert set(Page.objects.values_list("slug", flat=True)) == {"impressum", "datenschutz"}
    Page.objects.filter(slug="impressum").update(body="Eigener Text")
    call_command("load-demo", stdout=io.StringIO())
    assert Page.objects.count() == 2 and Page.objects.get(slug="impressum").body == "Eigener Text"


def test_pages_are_in_the_sitemap(client, settings, demo_site):
    settings.SITE_URL = "https://news.musterhaus.example"
    text = client.get("/sitemap.xml").content.decode()
    assert "<loc>https://news.musterhaus.example/impressum/</loc>" in text


def test_an_unknown_word_without_a_slash_is_a_404_not_a_redirect(client, demo_site):
    assert client.get("/gibt-es-nicht").status_code == 404
    assert client.get("/impressum").status_code == 301  # an existing page still gets its slash
