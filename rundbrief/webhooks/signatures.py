"""Secrets and signatures per the Standard Webhooks specification (standardwebhooks.com).

A secret is `whsec_` + base64 of random bytes; each request carries `webhook-id`,
`webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`. The HMAC is the `standardwebhooks` package's, the same code receivers verify with.
"""

import base64
import datetime as dt
import secrets

from standardwebhooks import Webhook

SECRET_BYTES = 32  # the specification asks for 24 to 64


def new_secret():
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signed_headers(secret, msg_id, body, sent_at=None):
    """The three headers for one request. `sent_at` is the wall clock: receivers reject a timestamp
    more than a few minutes off their own (the specification's replay protection)."""
    sent_at = (sent_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, sent_at, body),
    }
