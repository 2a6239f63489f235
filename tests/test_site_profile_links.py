"""The site profile's imprint and privacy links accept only paths and http(s) addresses (stored XSS:
an editor's `javascript:` link ran in every reader's browser and in the double-opt-in mail)."""

import pytest
from django.core.exceptions import ValidationError

from rundbrief.newsroom.models import SiteProfile

pytestmark = pytest.mark.django_db
HOSTILE = ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<script>x</script>", "//evil.example/x"]


@pytest.mark.parametrize("value", HOSTILE)
def test_the_form_refuses_anything_but_a_path_or_an_http_address(value):
    profile = SiteProfile.load()
    profile.imprint_url = value
    with pytest.raises(ValidationError):
        profile.full_clean()


@pytest.mark.parametrize("value", ["/impressum/", "https://musterhaus.example/impressum", "http://intra.example/"])
def test_paths_and_http_addresses_are_fine(value):
    profile = SiteProfile.load()
    profile.privacy_url = value
    profile.full_clean()


def test_admin_form_refuses_a_javascript_link(admin_client):
    profile = SiteProfile.load()
    page = admin_client.get(f"/admin/newsroom/siteprofile/{profile.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data.update(imprint_url="javascript:alert(document.cookie)")
    response = admin_client.post(f"/admin/newsroom/siteprofile/{profile.pk}/change/", data)
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert SiteProfile.load().imprint_url != "javascript:alert(document.cookie)"


@pytest.mark.parametrize("value", HOSTILE)
def test_a_value_written_around_the_form_never_reaches_a_page_or_a_mail(client, value):
    SiteProfile.objects.filter(pk=SiteProfile.load().pk).update(imprint_url=value, privacy_url=value)
    page = client.get("/").content.decode()
    assert "javascript:" not in page.lower() and "data:text" not in page and "evil.example" not in page
    links = SiteProfile.load().mail_links("de")
    assert links["imprint_url"] == "" and links["privacy_url"] == ""
