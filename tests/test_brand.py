"""The site profile's logo and brand colours: checked when an editor saves them, and carried by the
site's header, the double-opt-in mail and the campaign mail alike, with the logo as an absolute URL."""

import re

import pytest
from django.core.exceptions import ValidationError

from rundbrief.campaigns.authoring import create_campaign
from rundbrief.campaigns.rendering import render_campaign
from rundbrief.newsroom import brand
from rundbrief.newsroom.models import SiteProfile

pytestmark = pytest.mark.django_db
LOGO = "/static/rundbrief/demo/musterhaus-logo.png"


@pytest.fixture
def branded(settings):
    settings.SITE_URL = "http://news.musterhaus.example"
    profile = SiteProfile.load()
    profile.logo_url, profile.brand_primary, profile.brand_accent = LOGO, "#1F4E79", "#A07A1E"
    profile.full_clean()
    profile.save()
    return profile


@pytest.mark.parametrize("value", ["#7a5c12", "#7A5C12", " #7a5c12 ", "#000"])
def test_a_dark_hex_colour_is_accepted_as_primary(value):
    brand.validate_primary(value)


@pytest.mark.parametrize(
    "value, code",
    [
        ("7a5c12", "invalid"),  # no #
        ("#7a5c1", "invalid"),
        ("#7a5c12;}", "invalid"),  # what would break out of the stylesheet
        ("gold", "invalid"),
        ("#ffd36b", "contrast"),  # light gold: white text on it is unreadable (1.5:1)
        ("#b8860b", "contrast"),  # the accent: 3.2:1, enough for a border, not for text
    ],
)
def test_a_malformed_or_too_light_primary_colour_is_refused_with_its_reason(value, code):
    with pytest.raises(ValidationError) as refused:
        brand.validate_primary(value)
    assert refused.value.code == code


def test_the_accent_needs_only_the_contrast_of_a_graphical_object():
    brand.validate_accent("#b8860b")  # 3.2:1 on white, WCAG 2.1 SC 1.4.11
    with pytest.raises(ValidationError):
        brand.validate_accent("#f1cf6b")


def test_colours_are_stored_in_one_spelling_and_a_bad_stored_value_never_reaches_a_stylesheet(branded):
    branded.refresh_from_db()
    assert (branded.brand_primary, branded.brand_accent) == ("#1f4e79", "#a07a1e")
    # Written around the form; seven characters, what the column holds (PostgreSQL enforces it).
    SiteProfile.objects.update(brand_primary="red;}{x")
    assert SiteProfile.load().brand()["brand_primary"] == brand.DEFAULT_PRIMARY


@pytest.mark.parametrize(
    "value", ["http://cdn.example/logo.png", "//cdn.example/logo.png", "logo.png", '/a" onerror="x']
)
def test_a_logo_is_a_path_on_the_site_or_an_https_address(value):
    profile = SiteProfile(logo_url=value)
    with pytest.raises(ValidationError) as refused:
        profile.full_clean()
    assert "logo_url" in refused.value.message_dict


def test_the_site_header_shows_the_logo_and_the_colours(client, branded):
    html = client.get("/").content.decode()
    assert f'<img class="brand-logo" src="{LOGO}"' in html
    assert "--brand: #1f4e79; --accent: #a07a1e;" in html


def test_the_confirmation_mail_carries_the_absolute_logo_and_the_colours(sign_up, smtp_inbox, topics, branded):
    sign_up("anna@example.de")
    html = smtp_inbox.mails[0].get_body(("html",)).get_content()
    assert f'src="http://news.musterhaus.example{LOGO}"' in html
    assert "border-bottom: 3px solid #a07a1e" in html  # the header's rule in the accent
    assert re.search(r'<a href="[^"]+/bestaetigen/[^"]+" style="[^"]*background-color: #1f4e79;', html)  # the button


def test_the_campaign_mail_has_the_same_header_as_the_site_not_a_navy_serif(branded, topics):
    campaign = create_campaign(
        name="KW 48", subject="Marktbericht", topics=list(topics.values()), body="## Gold\n\nSteigt."
    )
    html = render_campaign(campaign).html
    assert f'src="http://news.musterhaus.example{LOGO}"' in html
    assert "border-bottom: 3px solid #a07a1e" in html
    assert "Georgia" not in html and "#0f2a44" not in html
    assert "color: #1f4e79" in html  # links in the primary colour
