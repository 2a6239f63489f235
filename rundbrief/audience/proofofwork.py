"""The sign-up form's proof-of-work: ALTCHA challenges issued, checked and spent here.

A challenge asks the reader's browser for the number n (0 ≤ n ≤ the difficulty) with
SHA-256(salt + n) = challenge; the browser tries numbers until one fits (static
rundbrief/proofofwork-worker.js), which costs a person a second once and a bot that second for
every sign-up. Issued by this server, signed with a key derived from SECRET_KEY, solved on the
reader's machine: no third party, no cookie, no request elsewhere (docs/decisions.md, "Proof of
work on the sign-up form"). The PyPI package `altcha` (MIT) makes and verifies the challenges in
the format of its version 1, which our own small script solves.

A solution is stateless until it is spent: `spend` counts its signature in the rate-window table
(db/windows.py) in the sign-up's own transaction, so one solution signs up once. The count lives
in a window that ends when the challenge expires, and `rundbrief purge` forgets it after that.
"""

import base64
import binascii
import json
import time
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import altcha
from django.conf import settings
from django.utils.crypto import salted_hmac

from rundbrief.db import windows

# Long enough to type an address after the form got focus, short enough that a stock of solved
# challenges goes stale quickly.
CHALLENGE_SECONDS = 600
FIELD = "altcha"  # the hidden field's name, as ALTCHA's widgets name it
ALGORITHM = "SHA-256"
_MAX_PAYLOAD = 2000  # a genuine payload is about 400 characters
_FIELDS = {"algorithm": str, "challenge": str, "number": int, "salt": str, "signature": str}


class Refused(Exception):
    """The solution is missing, not ours, expired or spent; `reason` is one of those four words."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _hmac_key():
    # Derived, not SECRET_KEY itself: a key of its own purpose, as Django's signers do.
    return salted_hmac("rundbrief.audience.proofofwork", "altcha", algorithm="sha256").hexdigest()


def new_challenge(now=None):
    """A fresh challenge as the browser gets it (JSON-ready: algorithm, challenge, maxNumber, salt, signature)."""
    now = time.time() if now is None else now
    challenge = altcha.create_challenge_v1(
        algorithm=ALGORITHM,
        max_number=settings.RUNDBRIEF_SIGNUP_PROOF_OF_WORK_DIFFICULTY,
        hmac_key=_hmac_key(),
        expires=datetime.fromtimestamp(now, UTC) + timedelta(seconds=CHALLENGE_SECONDS),
    )
    return challenge.to_dict()


class Solution(NamedTuple):
    signature: str
    expires: int  # Unix time, from the signed salt


def check(text, now=None):
    """The Solution if `text` (the form field) solves a challenge of ours that has not expired;
    Refused otherwise. Reads nothing: whether it was used before is `spend`'s question."""
    payload = _parse(text)
    valid, _error = altcha.verify_solution_v1(payload, _hmac_key(), check_expires=False)
    if not valid or payload["algorithm"] != ALGORITHM:
        raise Refused("invalid")
    solution = Solution(payload["signature"], _expires(payload))
    if solution.expires < (time.time() if now is None else now):
        raise Refused("expired")
    return solution


def spend(solution):
    """Count the solution as used, inside the sign-up's transaction; Refused("used") if it was before.

    Counted under its signature in the window that holds its expiry time: every attempt with one
    solution meets the same row, whenever it is made, until the challenge has expired."""
    if windows.count(f"pow:{solution.signature[:64]}", CHALLENGE_SECONDS, solution.expires) > 1:
        raise Refused("used")


def _parse(text):
    """The payload as a dict with the five fields of the right types, or Refused: ALTCHA's own
    parser assumes a well-formed object and would fail on garbage with a TypeError."""
    if not text:
        raise Refused("missing")
    if not isinstance(text, str) or len(text) > _MAX_PAYLOAD:
        raise Refused("invalid")
    try:
        payload = json.loads(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise Refused("invalid") from None
    if not isinstance(payload, dict):
        raise Refused("invalid")
    for name, kind in _FIELDS.items():
        value = payload.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise Refused("invalid")
    if not 0 <= payload["number"] <= 10**12:
        raise Refused("invalid")
    return {name: payload[name] for name in _FIELDS}


def _expires(payload):
    # Signed, so ours: the salt's "expires" parameter is the Unix time create_challenge wrote.
    values = altcha.extract_params_v1(payload).get("expires") or ["0"]
    try:
        return int(values[0])
    except ValueError:
        return 0
