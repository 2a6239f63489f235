"""Compile a message once; build each recipient's copy, signed, by substitution.

The expensive work — MIME structure, quoted-printable encoding, DKIM
canonicalisation of everything static — happens once in `CompiledMessage.__init__`.
Per recipient only the placeholders (`%%RB:<name>%%`, see `placeholder()`) and a
few headers are filled in, the body hash is finished from a pre-hashed prefix,
and the DKIM signature is computed. Campaign mail (delivery/compose.py) and
service mail (audience/mail.py) are both built here.

Every static body segment ends at a line end (a real one or a quoted-printable
soft line break, RFC 2045 §6.7 rule 5), and every substituted value is whole
lines too. DKIM's relaxed body canonicalisation works line by line (RFC 6376
§3.4.4), so the canonical form of the static segments can be computed once.
"""

import binascii
import email.utils
import hashlib
import html
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from email.header import Header

from rundbrief.outbound import dkim

SOFT_BREAK = b"=\r\n"


def placeholder(name: str) -> str:
    """What stands in a rendered body for a per-recipient value: `%%RB:<name>%%`."""
    return f"%%RB:{name}%%"


# The per-recipient links a newsletter's templates carry (campaigns/rendering.py), by name: the
# placeholder's and the template variable's; delivery/compose.py fills them in per recipient.
UNSUBSCRIBE_URL, PREFERENCES_URL = "unsubscribe_url", "preferences_url"
UNSUBSCRIBE_PLACEHOLDER = placeholder(UNSUBSCRIBE_URL)
PREFERENCES_PLACEHOLDER = placeholder(PREFERENCES_URL)


@dataclass(frozen=True)
class OutgoingMessage:
    envelope_from: str
    recipient: str
    message_id: str
    data: bytes


def qp(text: str) -> bytes:
    """Quoted-printable (RFC 2045 §6.7) with CRLF line ends; no line longer than 76 characters."""
    encoded = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True)
    return encoded.replace(b"\n", b"\r\n")


def _whole_lines(encoded: bytes) -> bytes:
    if encoded and not encoded.endswith(b"\r\n"):
        encoded += SOFT_BREAK
    return encoded


class _Part:
    """One text/* part as alternating static segments and placeholder names."""

    def __init__(self, source: str, escape, pattern):
        pieces = pattern.split(source) if pattern is not None else [source]
        # split() with one group alternates: static, name, static, name, …, static
        self.static = [_whole_lines(qp(piece)) for piece in pieces[0::2]]
        self.names = pieces[1::2]
        self.escape = escape

    def value(self, name, values):
        return _whole_lines(qp(self.escape(values[name])))


def header_value(text: str) -> str:
    """RFC 2047 encoded-word only where needed; folded lines are unfolded by DKIM's relaxed canonicalisation."""
    try:
        text.encode("ascii")
        return text
    except UnicodeEncodeError:
        return Header(text, "utf-8").encode(linesep="\r\n")


def address_header(name: str, address: str) -> str:
    """A From-style header value: `Name <address>`, the name quoted or encoded as needed (RFC 5322 §3.4)."""
    if name.isascii():
        return email.utils.formataddr((name, address))
    return f"{header_value(name)} <{address}>"


def new_message_id(domain: str) -> str:
    """A fresh, unique Message-ID (RFC 5322 §3.6.4) for mail that has no deterministic one."""
    return email.utils.make_msgid(domain=domain)


def no_line_breaks(*values):
    """Refuse header values a recipient's data or an editor's typo could use to add headers."""
    for value in values:
        if "\r" in value or "\n" in value:
            raise ValueError("header values must not contain line breaks")


class CompiledMessage:
    """A multipart/alternative message (text and HTML, RFC 2046 §5.1.4) compiled for many recipients.

    `placeholders`: the names substituted per recipient; any other `%%RB:…%%` stays as written.
    `headers`: further headers every copy carries, after From, Subject, MIME-Version and Content-Type,
    as (name, value) with the value already encoded (`header_value`).
    `signing_keys`: DKIM keys (keys.signing_keys); every copy is signed with each.
    """

    def __init__(
        self,
        *,
        subject,
        html_body,
        text_body,
        from_name,
        from_email,
        headers=(),
        placeholders=(),
        signing_keys=(),
    ):
        no_line_breaks(subject, from_name, from_email)
        self.from_email = from_email
        self.from_domain = from_email.rpartition("@")[2].lower()
        self.signing_keys = tuple(signing_keys)
        boundary = f"rb-{secrets.token_hex(12)}"
        self.static_headers = [
            ("From", address_header(from_name, from_email)),
            ("Subject", header_value(subject)),
            ("MIME-Version", "1.0"),
            ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
            *headers,
        ]
        pattern = None
        if placeholders:
            pattern = re.compile("%%RB:(" + "|".join(re.escape(name) for name in placeholders) + ")%%")
        part_head = (
            '--{b}\r\nContent-Type: text/{t}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        )
        self.parts = [
            (part_head.format(b=boundary, t="plain").encode(), _Part(text_body, lambda v: v, pattern)),
            (part_head.format(b=boundary, t="html").encode(), _Part(html_body, html.escape, pattern)),
        ]
        self.closing = f"--{boundary}--\r\n".encode()
        self._layout = self._compile_layout()
        prefix = self._layout[0] if isinstance(self._layout[0], bytes) else b""
        self._body_hash_prefix = hashlib.sha256(dkim.relaxed_body_lines(prefix))
        self._canonical = [dkim.relaxed_body_lines(s) if isinstance(s, bytes) else s for s in self._layout]

    def _compile_layout(self):
        """The body as a flat list: bytes for static text, (part, name) for a placeholder."""
        layout = []
        for head, part in self.parts:
            layout.append(head)
            for index, static in enumerate(part.static):
                layout.append(static)
                if index < len(part.names):
                    layout.append((part, part.names[index]))
        layout.append(self.closing)
        merged = []
        for item in layout:  # join adjacent static pieces so the prefix hash covers as much as possible
            if isinstance(item, bytes) and merged and isinstance(merged[-1], bytes):
                merged[-1] += item
            else:
                merged.append(item)
        return merged

    def build(
        self, to: str, values: Mapping[str, str], *, message_id: str, envelope_from="", headers=(), now=None
    ) -> OutgoingMessage:
        """The copy for `to`, with `values` for the placeholders; `headers` follow To, Date and Message-ID.

        `envelope_from`: the Return-Path (RFC 5321 §4.4), by default the From address."""
        signing = bool(self.signing_keys)  # without a key there is no body hash to compute
        body, body_hash = [], self._body_hash_prefix.copy() if signing else None
        for index, item in enumerate(self._layout):
            if isinstance(item, bytes):
                body.append(item)
                if index and signing:
                    body_hash.update(self._canonical[index])
            else:
                part, name = item
                value = part.value(name, values)
                body.append(value)
                if signing:
                    body_hash.update(dkim.relaxed_body_lines(value))
        headers = [
            *self.static_headers,
            ("To", to),
            ("Date", email.utils.formatdate(now, localtime=False)),
            ("Message-ID", message_id),
            *headers,
        ]
        lines = []
        if signing:
            digest = body_hash.digest()
            lines = [dkim.signature_header(key, headers, digest) for key in self.signing_keys]
        lines += [f"{name}: {value}" for name, value in headers]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
        return OutgoingMessage(
            envelope_from=envelope_from or self.from_email,
            recipient=to,
            message_id=message_id,
            data=head + b"".join(body),
        )
