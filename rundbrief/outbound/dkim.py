"""DKIM signatures (RFC 6376) with the `cryptography` package: rsa-sha256 and ed25519-sha256 (RFC 8463).

Canonicalisation is relaxed/relaxed (RFC 6376 §3.4.2, §3.4.4): it survives the
whitespace changes relays make. No `l=` tag: a body length limit would let
anyone append content under our signature. From is signed twice ("over-signed",
§8.15) so a second From header cannot be added without breaking the signature.

Messages are signed per recipient but prepared once: the body hash is fed from
pre-canonicalised static segments (see message.py).
"""

import base64
import hashlib
import re
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

# RFC 6376 §5.4.1 recommends these; From appears twice for over-signing.
SIGNED_HEADERS = (
    "from",
    "from",
    "reply-to",
    "subject",
    "date",
    "to",
    "cc",
    "message-id",
    "mime-version",
    "content-type",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-id",
    "feedback-id",
    "auto-submitted",  # RFC 3834 §5: service mail says it is automatic; a relay must not drop that
)

_WSP_RUN = re.compile(rb"[ \t]+")
_TRAILING_WSP = re.compile(rb"[ \t]+\r\n")


def relaxed_header(name: str, value: str) -> bytes:
    """RFC 6376 §3.4.2: lower-case name, unfold, collapse whitespace, strip."""
    value = value.replace("\r\n", "")
    value = re.sub(r"[ \t]+", " ", value).strip()
    return f"{name.lower().strip()}:{value}\r\n".encode()


def relaxed_body_lines(data: bytes) -> bytes:
    """RFC 6376 §3.4.4 for whole lines (CRLF-terminated): collapse and strip whitespace per line.

    Trailing empty lines are handled by the caller at the very end of the body.
    """
    data = _TRAILING_WSP.sub(b"\r\n", data)
    return _WSP_RUN.sub(b" ", data)


def finish_relaxed_body(canonical: bytes) -> bytes:
    """Drop trailing empty lines; a non-empty body ends with exactly one CRLF."""
    stripped = canonical.rstrip(b"\r\n")
    return stripped + b"\r\n" if stripped else b""


@dataclass(frozen=True)
class SigningKey:
    algorithm: str  # "rsa-sha256" or "ed25519-sha256"
    domain: str
    selector: str
    key: object

    def sign(self, data: bytes) -> bytes:
        if self.algorithm == "rsa-sha256":
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        # RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data (PureEdDSA over the digest).
        return self.key.sign(hashlib.sha256(data).digest())


def load_key(path: str, domain: str, selector: str) -> SigningKey:
    with open(path, "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 1024:
            raise ValueError(f"{path}: RSA key of {key.key_size} bits is too short (RFC 8301 requires 1024, use 2048)")
        return SigningKey("rsa-sha256", domain, selector, key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return SigningKey("ed25519-sha256", domain, selector, key)
    raise ValueError(f"{path}: only RSA and Ed25519 keys can sign DKIM")


def dns_record(key: SigningKey) -> str:
    """The TXT record value for <selector>._domainkey.<domain>."""
    public = key.key.public_key()
    if key.algorithm == "rsa-sha256":
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"


def generate_key(algorithm="rsa"):
    if algorithm == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError("algorithm must be rsa or ed25519")


def private_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def signature_header(key: SigningKey, headers: list[tuple[str, str]], body_hash: bytes, timestamp=None) -> str:
    """The DKIM-Signature header line (without CRLF) for these headers and body hash.

    `headers` are the message's headers in order, as (name, value) with values unfolded.
    """
    present = {}
    for name, value in headers:
        present.setdefault(name.lower(), []).append(value)
    signed_names, data = [], []
    used = {}
    for name in SIGNED_HEADERS:
        values = present.get(name)
        if values is None and name != "from":
            continue
        signed_names.append(name)
        # §5.4.2: instances are used from the bottom up; a name listed once more than it
        # occurs is signed as the null string — that is what makes over-signing work.
        index = used.get(name, 0)
        used[name] = index + 1
        if values and index < len(values):
            data.append(relaxed_header(name, values[len(values) - 1 - index]))
    tags = (
        f"v=1; a={key.algorithm}; c=relaxed/relaxed; d={key.domain}; s={key.selector}; "
        f"t={int(timestamp or time.time())}; h={':'.join(signed_names)}; "
        f"bh={base64.b64encode(body_hash).decode()}; b="
    )
    # §3.7: the signature header itself is hashed last, with an empty b= and no trailing CRLF.
    data.append(relaxed_header("dkim-signature", tags)[:-2])
    signature = base64.b64encode(key.sign(b"".join(data))).decode()
    return f"DKIM-Signature: {tags}{signature}"
