import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone, translation

from rundbrief.campaigns.authoring import create_campaign
from rundbrief.campaigns.models import Campaign
from rundbrief.campaigns.rendering import (
    NO_NEW_ARTICLES,
    PREFERENCES_PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    render_campaign,
)
from rundbrief.newsroom.models import Article, SiteProfile

BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2025, 4, 7, 18, 0, tzinfo=BERLIN)
MARKDOWN = """# Goldpreis auf Rekordhoch

Der Preis für eine Unze stieg auf **2.400 Euro**. Mehr im [Marktbericht](/artikel/marktbericht/).

- Silber: stabil
- Platin: fester
"""


@pytest.fixture
def profile(db):
    profile = SiteProfile.load()
    profile.site_name = "Musterhaus Edelmetalle"
    profile.imprint_url = "/impressum/"
    profile.privacy_url = "https://musterhaus.example/datenschutz/"
    profile.save()
    return profile


@pytest.fixture
def newsletter(topics, profile):
    return create_campaign(
        name="April",
        subject="Goldpreis im April",
        topics=["finanznachrichten"],
        body=MARKDOWN,
        preheader="Der Markt in fünf Minuten",
    )


def digest(topics, **fields):
    return create_campaign(name="Digest", subject="Wochenrückblick", topics=topics, body_format="digest", **fields)


def test_both_parts_carry_the_unsubscribe_and_preferences_placeholders_unescaped(newsletter):
    rendered = render_campaign(newsletter, now=NOW)
    assert f'href="{UNSUBSCRIBE_PLACEHOLDER}"' in rendered.html
    assert f'href="{PREFERENCES_PLACEHOLDER}"' in rendered.html
    assert UNSUBSCRIBE_PLACEHOLDER in rendered.text and PREFERENCES_PLACEHOLDER in rendered.text
    assert "%25" not in rendered.html and "&#37;" not in rendered.html


def test_the_unsubscribe_link_is_visible_text_in_the_html(newsletter):
    html = render_campaign(newsletter, now=NOW, language="de").html
    link = re.search(rf'<a href="{re.escape(UNSUBSCRIBE_PLACEHOLDER)}"[^>]*>([^<]+)</a>', html)
    assert link and link.group(1).strip() == "Newsletter abbestellen"


def test_css_is_inlined_and_the_layout_is_600_pixels_wide(newsletter):
    html = render_campaign(newsletter, now=NOW).html
    assert re.search(r'<td class="rb-pad rb-content" style="[^"]*font-family: Helvetica', html)
    assert "max-width: 600px" in html
    # Only the media query survives in a <style> block; plain rules are inlined.
    style = re.search(r"<style[^>]*>(.*?)</style>", html, re.S).group(1)
    assert "@media" in style and ".rb-content a" not in style


def test_markdown_text_part_and_html_part_have_the_same_content(newsletter):
    rendered = render_campaign(newsletter, now=NOW)
    for words in ["Goldpreis auf Rekordhoch", "2.400 Euro", "Marktbericht", "Silber: stabil", "Platin: fester"]:
        assert words in rendered.html and words in rendered.text
    assert f'href="{settings.SITE_URL}/artikel/marktbericht/"' in rendered.html
    assert f"]({settings.SITE_URL}/artikel/marktbericht/)" in rendered.text
    assert rendered.subject == "Goldpreis im April"


def test_site_relative_links_become_absolute_with_site_url(topics, profile):
    with override_settings(SITE_URL="https://news.musterhaus.example"):
        campaign = create_campaign(name="x", subject="x", topics=["produktneuheiten"], body="[Neu](/artikel/neu/)")
        rendered = render_campaign(campaign, now=NOW)
    assert 'href="https://news.musterhaus.example/artikel/neu/"' in rendered.html
    assert "[Neu](https://news.musterhaus.example/artikel/neu/)" in rendered.text
    assert 'href="https://news.musterhaus.example/impressum/"' in rendered.html
    assert "https://news.musterhaus.example/impressum/" in rendered.text


def test_preheader_is_hidden_preview_text_at_the_top_of_the_body(newsletter):
    html = render_campaign(newsletter, now=NOW).html
    body = html.split("<body", 1)[1]
    assert body.index("Der Markt in fünf Minuten") < body.index("Goldpreis auf Rekordhoch")
    assert re.search(r'<div style="display: none;[^"]*">Der Markt in fünf Minuten</div>', html)


def test_footer_names_the_reason_imprint_and_privacy_notice(newsletter):
    rendered = render_campaign(newsletter, now=NOW, language="de")
    for part in (rendered.html, rendered.text):
        assert "weil Sie den Newsletter von Musterhaus Edelmetalle abonniert" in part
        assert "Finanznachrichten" in part
        assert "Impressum" in part and "Datenschutzerklärung" in part
    assert 'href="https://musterhaus.example/datenschutz/"' in rendered.html


def test_newsletter_is_german_by_default_and_english_on_request(newsletter):
    assert "Newsletter abbestellen" in render_campaign(newsletter, now=NOW).text
    english = render_campaign(newsletter, now=NOW, language="en")
    assert "Unsubscribe from the newsletter" in english.text and "Imprint" in english.html
    assert '<html lang="en">' in english.html
    with override_settings(LANGUAGE_CODE="en"):
        assert "Change topics" in render_campaign(newsletter, now=NOW).text


def test_html_body_is_sanitised_but_keeps_newsletter_layout(topics, profile):
    body = (
        '<table width="100%" cellpadding="4"><tr><td style="color: #c00; background-image: url(https://t.example/p.gif)">'
        'Angebot</td></tr></table><script>alert(1)</script><img src="x" onerror="alert(2)">'
        '<a href="javascript:alert(3)">klick</a><iframe src="https://evil.example/"></iframe><p onclick="x()">Text</p>'
    )
    campaign = create_campaign(name="x", subject="x", topics=["sonderangebote"], body=body, body_format="html")
    rendered = render_campaign(campaign, now=NOW)
    assert 'cellpadding="4"' in rendered.html and re.search(r"color: ?#c00", rendered.html)
    for bad in ["<script", "alert(1)", "onerror", "javascript:", "<iframe", "onclick", "url(", "t.example"]:
        assert bad not in rendered.html, bad
    assert "Angebot" in rendered.text and "Text" in rendered.text and "alert" not in rendered.text


def test_html_text_part_lists_the_link_targets(topics, profile):
    body = '<h2>Neu im Shop</h2><p>Die <a href="https://shop.example/krugerrand">Krugerrand-Münze</a> ist da.</p>'
    campaign = create_campaign(name="x", subject="x", topics=["produktneuheiten"], body=body, body_format="html")
    text = render_campaign(campaign, now=NOW).text
    assert "Neu im Shop" in text
    assert "Die Krugerrand-Münze (https://shop.example/krugerrand) ist da." in text


def test_markdown_body_cannot_smuggle_script_into_the_html(topics, profile):
    campaign = create_campaign(
        name="x", subject="x", topics=["produktneuheiten"], body="Hallo <script>alert(1)</script>"
    )
    assert "<script>alert" not in render_campaign(campaign, now=NOW).html


def test_no_tracking_pixel_or_redirect_links_are_added(newsletter):
    html = render_campaign(newsletter, now=NOW).html
    assert "<img" not in html
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert all(h.startswith(("http://", "https://", "%%RB:")) for h in hrefs), hrefs
    assert not [h for h in hrefs if "redirect" in h or "/r/" in h or "track" in h]


def test_html_larger_than_100_kb_gives_a_warning(topics, profile):
    small = create_campaign(name="x", subject="x", topics=["produktneuheiten"], body="Kurz.")
    assert render_campaign(small, now=NOW).warnings == []
    big = create_campaign(name="x", subject="x", topics=["produktneuheiten"], body="Absatz mit Text. " * 7000)
    warnings = render_campaign(big, now=NOW).warnings
    assert len(warnings) == 1 and "102 KB" in warnings[0]


def test_digest_lists_published_articles_of_its_topics_since_digest_since(topics, profile, make_article):
    fin, prod = topics["finanznachrichten"], topics["produktneuheiten"]
    since = dt.datetime(2025, 4, 1, 0, 0, tzinfo=BERLIN)
    new = make_article(
        "Gold steigt", topics=[fin], published_at=since + dt.timedelta(days=2), lead="Die Unze kostet mehr."
    )
    both = make_article("Neue Barren", topics=[fin, prod], published_at=since + dt.timedelta(days=3))
    make_article("Zu alt", topics=[fin], published_at=since - dt.timedelta(minutes=1))
    make_article("Anderes Thema", topics=[topics["sonderangebote"]], published_at=since + dt.timedelta(days=1))
    make_article("Entwurf", topics=[fin], published_at=since + dt.timedelta(days=1), status=Article.Status.DRAFT)
    make_article("Zukunft", topics=[fin], published_at=NOW + dt.timedelta(hours=1))
    campaign = digest([fin, prod], digest_since=since)
    rendered = render_campaign(campaign, now=NOW)
    titles = re.findall(r'<h2[^>]*><a href="[^"]+"[^>]*>([^<]+)</a>', rendered.html)
    assert titles == ["Neue Barren", "Gold steigt"]
    assert f'href="{new.absolute_url()}"' in rendered.html and new.absolute_url().startswith("http")
    assert "Die Unze kostet mehr." in rendered.html and "Die Unze kostet mehr." in rendered.text
    assert rendered.text.index("Neue Barren") < rendered.text.index("Gold steigt")
    assert both.absolute_url() in rendered.text and "Zu alt" not in rendered.text
    assert rendered.warnings == []


def test_digest_starts_where_the_previous_finished_digest_started(topics, profile, make_article):
    fin = topics["finanznachrichten"]
    previous = digest([fin])
    Campaign.objects.filter(pk=previous.pk).update(state=Campaign.State.FINISHED, started_at=NOW - dt.timedelta(days=2))
    cancelled = digest([fin])
    Campaign.objects.filter(pk=cancelled.pk).update(
        state=Campaign.State.CANCELLED, started_at=NOW - dt.timedelta(hours=1)
    )
    make_article("Schon verschickt", topics=[fin], published_at=NOW - dt.timedelta(days=3))
    make_article("Seitdem neu", topics=[fin], published_at=NOW - dt.timedelta(days=1))
    text = render_campaign(digest([fin]), now=NOW).text
    assert "Seitdem neu" in text and "Schon verschickt" not in text


def test_digest_without_previous_digest_covers_the_last_seven_days(topics, profile, make_article):
    fin = topics["finanznachrichten"]
    make_article("Vor sechs Tagen", topics=[fin], published_at=NOW - dt.timedelta(days=6))
    make_article("Vor acht Tagen", topics=[fin], published_at=NOW - dt.timedelta(days=8))
    text = render_campaign(digest([fin]), now=NOW).text
    assert "Vor sechs Tagen" in text and "Vor acht Tagen" not in text


def test_empty_digest_warns_no_new_articles(topics, profile):
    rendered = render_campaign(digest(["sonderangebote"]), now=timezone.now())
    assert rendered.empty and rendered.warnings == [NO_NEW_ARTICLES]
    with translation.override("de"):
        assert str(rendered.warnings[0]).startswith("bisher keine neuen Artikel")
    assert "Keine neuen Artikel" in rendered.text


def test_digest_intro_from_the_body_comes_before_the_articles(topics, profile, make_article):
    fin = topics["finanznachrichten"]
    make_article("Gold steigt", topics=[fin], published_at=NOW - dt.timedelta(days=1))
    campaign = digest([fin], body="Liebe Leserinnen und Leser,")
    rendered = render_campaign(campaign, now=NOW)
    for part in (rendered.html, rendered.text):
        assert part.index("Liebe Leserinnen und Leser,") < part.index("Gold steigt")


def test_demo_site_digest_renders_its_articles(demo_site):
    campaign = digest(["finanznachrichten"], digest_since=dt.datetime(2000, 1, 1, tzinfo=BERLIN))
    rendered = render_campaign(campaign)
    article = Article.objects.published().filter(topics__slug="finanznachrichten").first()
    assert article.title in rendered.text and demo_site.site_name in rendered.html


def test_unsubscribe_and_preference_links_are_short_and_unprefixed_whatever_language_is_active():
    """They go into List-Unsubscribe (RFC 2369, RFC 8058): /u/TOKEN and /p/TOKEN, built by reverse()."""
    from django.utils import translation

    from rundbrief.audience.links import recipient_links

    with override_settings(SITE_URL="https://news.musterhaus.example"), translation.override("en"):
        unsubscribe, preferences = recipient_links("preview")
    assert re.fullmatch(r"https://news\.musterhaus\.example/u/[A-Za-z0-9_\-:]+", unsubscribe)
    assert re.fullmatch(r"https://news\.musterhaus\.example/p/[A-Za-z0-9_\-:]+", preferences)
