"""Addresses we cannot deliver are refused at the door with a reason (RFC 5321 §4.5.3.1.1: 64 characters
before the @; non-ASCII before the @ needs SMTPUTF8), and a log line never keeps one, whatever its script."""

import pytest
from django.core.exceptions import ValidationError

from rundbrief.audience.addresses import normalise_address, normalise_fast
from rundbrief.ops.logs import scrub


@pytest.mark.parametrize("normalise", [normalise_address, normalise_fast])
def test_a_local_part_of_65_characters_is_refused_and_64_are_fine(normalise):
    assert normalise("a" * 64 + "@example.org") == "a" * 64 + "@example.org"
    with pytest.raises(ValidationError) as refused:
        normalise("a" * 65 + "@example.org")
    assert refused.value.code == "local_too_long"


@pytest.mark.parametrize("normalise", [normalise_address, normalise_fast])
def test_letters_such_as_umlauts_before_the_at_are_refused_with_a_reason(normalise):
    with pytest.raises(ValidationError) as refused:
        normalise("jürgen@example.org")
    assert refused.value.code == "smtputf8" and "ü" in str(refused.value.messages[0])


def test_an_internationalised_domain_is_still_accepted():
    assert normalise_address("Anna@Bücher.de") == "anna@bücher.de"


@pytest.mark.django_db
def test_the_sign_up_form_says_why_an_umlaut_address_is_refused(client, topics):
    response = client.post("/newsletter/", {"email": "jürgen@example.org", "topics": ["finanznachrichten"]})
    assert "vor dem @" in response.content.decode() and "ä, ü" in response.content.decode()


def test_the_log_scrubber_catches_addresses_with_letters_of_any_script():
    line = scrub("versandt an anna@bücher.de und jürgen@example.org")
    assert "bücher" not in line and "jürgen" not in line and line.count("addr:") == 2
