"""The hot-path hashes give exactly what the generic code gives.

Links and addresses already mailed must keep working: the direct builds of signed
tokens, VERP/Message-ID MACs and subject hashes are checked against the library
routines they replace, over arbitrary inputs.
"""

import base64
import hashlib
import hmac
import time

import pytest
from django.conf import settings as django_settings
from django.core import signing
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rundbrief.audience import tokens
from rundbrief.audience.addresses import hash_key, subject_hash
from rundbrief.outbound import verp

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=40)
odd_ids = st.text(min_size=1, max_size=40)


def reference_token(purpose, payload):
    signer = signing.TimestampSigner(salt=f"rundbrief.audience.token.{purpose}")
    return signer.sign_object(payload, compress=False)


@hsettings(max_examples=200, deadline=None)
@given(purpose=st.sampled_from(sorted(tokens.PURPOSES)), public_id=st.one_of(ids, odd_ids), when=st.integers(0, 2**40))
def test_token_is_the_one_django_signing_makes(purpose, public_id, when):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: when + 0.25)
        assert tokens.make_token(purpose, public_id) == reference_token(purpose, {"i": public_id})
    made = tokens.make_token(purpose, public_id)
    if len(made) <= 300:  # read_token refuses longer ones; real public ids are 32 hex digits
        assert tokens.read_token(purpose, made)[0] == public_id


def test_token_with_a_nonce_is_the_one_django_signing_makes(monkeypatch_time):
    monkeypatch_time(1_800_000_000.5)
    made = tokens.make_token(tokens.CONFIRM, "a" * 32, nonce="n0nce")
    assert made == reference_token(tokens.CONFIRM, {"i": "a" * 32, "n": "n0nce"})


def test_token_follows_a_changed_secret_key(settings, monkeypatch_time):
    monkeypatch_time(1_800_000_000)
    before = tokens.make_token(tokens.UNSUBSCRIBE, "abc")
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    after = tokens.make_token(tokens.UNSUBSCRIBE, "abc")
    assert before != after and after == reference_token(tokens.UNSUBSCRIBE, {"i": "abc"})


@hsettings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["verp", "unsubscribe", "mid"]), value=st.text(max_size=40))
def test_verp_mac_is_the_first_fifty_bits_in_base32(kind, value):
    key = hmac.new(django_settings.SECRET_KEY.encode(), b"rundbrief.delivery.verp", hashlib.sha256).digest()
    digest = hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).digest()
    assert verp._mac(kind, value) == base64.b32encode(digest[:7]).decode().lower()[:10]


@hsettings(max_examples=200, deadline=None)
@given(address=st.text(max_size=60))
def test_subject_hash_is_hmac_sha256_hex(address):
    assert subject_hash(address) == hmac.new(hash_key(), address.encode("utf-8"), hashlib.sha256).hexdigest()


def test_subject_hash_follows_the_configured_key(settings):
    settings.RUNDBRIEF_HASH_KEY = "configured-hash-key"
    assert (
        subject_hash("leser@example.org")
        == hmac.new(b"configured-hash-key", b"leser@example.org", hashlib.sha256).hexdigest()
    )
    settings.RUNDBRIEF_HASH_KEY = ""
    derived = hmac.new(settings.SECRET_KEY.encode(), b"rundbrief.audience.subject-hash", hashlib.sha256).digest()
    assert subject_hash("leser@example.org") == hmac.new(derived, b"leser@example.org", hashlib.sha256).hexdigest()


@pytest.fixture
def monkeypatch_time(monkeypatch):
    def freeze(value):
        monkeypatch.setattr(time, "time", lambda: value)

    return freeze


atext = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-"
plain_addresses = st.builds(
    lambda local, domain: f"{'.'.join(local)}@{'.'.join(domain)}",
    st.lists(st.text(alphabet=atext, min_size=1, max_size=12), min_size=1, max_size=3),
    st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12), min_size=1, max_size=3
    ),
)


@hsettings(max_examples=300, deadline=None)
@given(address=st.one_of(plain_addresses, st.text(max_size=60)))
def test_angle_addr_is_what_smtplib_quoteaddr_gives(address):
    import smtplib

    from rundbrief.outbound.smtp import angle_addr

    assert angle_addr(address) == smtplib.quoteaddr(address)
