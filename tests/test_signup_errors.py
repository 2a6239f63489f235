"""A sign-up with a mistake keeps the reader: the page she came from, her input, the field marked."""

import re

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rundbrief.audience.models import ConsentEvent, ConsentText, SignupIntake, Subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def gold_article(make_article, finance):
    return make_article(title="Gold auf Rekordkurs", slug="gold-rekord", topics=[finance])


def post(client, email, page="/artikel/gold-rekord/", **extra):
    data = {"email": email, "consent_text": ConsentText.current("de").pk, "page": page, **extra}
    return client.post("/newsletter/", data, REMOTE_ADDR="203.0.113.9")


def test_a_mistyped_address_is_shown_on_the_article_with_the_input_kept_and_the_field_marked(client, gold_article):
    response = post(client, "kunde@gmial")
    html = response.content.decode()
    assert response.status_code == 400
    assert "Gold auf Rekordkurs" in html  # the article she came from, not a bare form page
    assert 'value="kunde@gmial"' in html
    assert 'aria-invalid="true" aria-describedby="email-errors"' in html
    assert re.search(r'<p class="field-error" id="email-errors">[^<]+</p>', html)
    assert 'id="signup-errors" tabindex="-1" autofocus' in html  # focus starts at the error summary
    assert 'href="#newsletter-email"' in html
    assert "{#" not in html and "WCAG" not in html  # template comments stay comments
    assert not Subscriber.objects.exists() and not SignupIntake.objects.exists()


def test_a_page_without_the_box_falls_back_to_the_sign_up_page_with_a_way_back(client, gold_article):
    response = post(client, "kunde@gmial", page="/suche/")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'value="kunde@gmial"' in html and 'aria-invalid="true"' in html
    assert '<p class="back-link"><a href="/suche/">' in html
    assert '<link rel="stylesheet"' in html  # the site's layout, not a bare page


def test_an_unpublished_or_unknown_article_falls_back_to_the_sign_up_page(client, gold_article):
    response = post(client, "kunde@gmial", page="/artikel/gibt-es-nicht/")
    assert response.status_code == 400
    assert 'value="kunde@gmial"' in response.content.decode()


def test_an_unknown_consent_text_is_named_in_the_error_summary_and_the_address_kept(client, gold_article):
    response = post(client, "anna@example.de", consent_text="999999")
    html = response.content.decode()
    assert response.status_code == 400 and "Gold auf Rekordkurs" in html
    assert 'value="anna@example.de"' in html and 'id="signup-errors"' in html
    assert not Subscriber.objects.exists()


def test_the_rate_limit_answers_on_the_article_with_the_input_kept(client, gold_article, settings, one_rate_window):
    settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE = 1
    assert post(client, "erste@example.de").status_code == 200
    response = post(client, "zweite@example.de")
    html = response.content.decode()
    assert response.status_code == 429 and response["Retry-After"] == "60"
    assert "Gold auf Rekordkurs" in html and 'value="zweite@example.de"' in html and 'id="signup-errors"' in html


def test_the_ticked_topics_stay_ticked_after_an_error(client, gold_article, topics):
    from rundbrief.newsroom.models import SiteProfile

    profile = SiteProfile.load()
    profile.signup_topic_choice = True
    profile.save()
    response = post(client, "kunde@gmial", topics=["sonderangebote"])
    assert 'value="sonderangebote" checked' in response.content.decode()
    assert 'value="produktneuheiten" checked' not in response.content.decode()


def test_a_valid_address_gets_the_same_page_whatever_its_state_with_a_way_back(client, gold_article, sign_up):
    sign_up("bekannt@example.de")
    known = post(client, "bekannt@example.de")
    new = post(client, "neu@example.de")
    bot = post(client, "bot@example.de", website="http://spam.example")
    assert known.status_code == new.status_code == bot.status_code == 200
    assert known.content == new.content == bot.content
    assert b'<a href="/artikel/gold-rekord/">' in new.content


field_values = st.one_of(st.text(max_size=300), st.sampled_from(["", "kunde@gmial", "a@b.de", "/artikel/gold-rekord/"]))


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(email=field_values, consent=field_values, page=field_values, topics_=st.lists(st.text(max_size=20), max_size=3))
def test_fuzzed_sign_ups_never_answer_500_and_an_error_keeps_what_was_typed(
    client, gold_article, settings, email, consent, page, topics_
):
    settings.RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE = 10**6
    settings.RUNDBRIEF_SIGNUP_GLOBAL_PER_MINUTE = 10**6
    before = (Subscriber.objects.count(), ConsentEvent.objects.count(), SignupIntake.objects.count())
    data = {"email": email, "consent_text": consent, "page": page, "topics": topics_}
    response = client.post("/newsletter/", data)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert (Subscriber.objects.count(), ConsentEvent.objects.count(), SignupIntake.objects.count()) == before
        html = response.content.decode()
        assert 'id="signup-errors"' in html and 'name="email"' in html
        if "\x00" not in email:
            from django.utils.html import escape

            assert f'value="{escape(email)}"' in html


def test_an_english_reader_gets_the_english_article_back_with_the_english_message(client, gold_article):
    data = {"email": "kunde@gmial", "consent_text": ConsentText.current("en").pk, "page": "/en/artikel/gold-rekord/"}
    response = client.post("/en/newsletter/", data)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'lang="en"' in html and "Gold auf Rekordkurs" in html
    assert "Your sign-up was not sent" in html and 'value="kunde@gmial"' in html
