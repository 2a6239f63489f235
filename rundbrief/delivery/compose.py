"""Compile a campaign once; build each recipient's signed message by substitution.

The expensive work — template rendering, CSS inlining, MIME structure,
quoted-printable encoding, DKIM canonicalisation of everything static — happens
once per campaign in `CompiledMessage.__init__`. Per recipient only the
placeholders (`%%RB:unsubscribe_url%%`, `%%RB:preferences_url%%`) and a few
headers are filled in, the body hash is finished from a pre-hashed prefix, and
the DKIM signature is computed.

Every static body segment ends at a line end (a real one or a quoted-printable
soft line break, RFC 2045 §6.7 rule 5), and every substituted value is whole
lines too. DKIM's relaxed body canonicalisation works line by line, so the
canonical form of the static segments can be computed once.
"""

import binascii
import email.utils
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from email.header import Header

from django.conf import settings

from rundbrief.delivery import dkim, verp

PLACEHOLDER = re.compile(r"%%RB:(unsubscribe_url|preferences_url)%%")
SOFT_BREAK = b"=\r\n"


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    campaign_id: int
    email: str
    unsubscribe_url: str
    preferences_url: str


@dataclass(frozen=True)
class Built:
    envelope_from: str
    recipient: str
    message_id: str
    data: bytes


def qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends; no line longer than 76 characters."""
    encoded = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True)
    return encoded.replace(b"\n", b"\r\n")


def _whole_lines(encoded: bytes) -> bytes:
    if encoded and not encoded.endswith(b"\r\n"):
        encoded += SOFT_BREAK
    return encoded


class _Part:
    """One text/* part as alternating static segments and placeholder names."""

    def __init__(self, source: str, escape):
        pieces = PLACEHOLDER.split(source)
        # split() with one group alternates: static, name, static, name, …, static
        self.static = [_whole_lines(qp(piece)) for piece in pieces[0::2]]
        self.names = pieces[1::2]
        self.escape = escape

    def value(self, name, recipient):
        return _whole_lines(qp(self.escape(getattr(recipient, name))))


def _header_value(text: str) -> str:
    """RFC 2047 encoded-word only where needed; folded lines are unfolded by DKIM's relaxed canonicalisation."""
    try:
        text.encode("ascii")
        return text
    except UnicodeEncodeError:
        return Header(text, "utf-8").encode(linesep="\r\n")


class CompiledMessage:
    def __init__(
        self,
        *,
        campaign_id,
        subject,
        html_body,
        text_body,
        from_name,
        from_email,
        reply_to="",
        list_name="",
        signing_keys=(),
        site_domain="",
    ):
        for value in (subject, from_name, from_email, reply_to):
            if "\r" in value or "\n" in value:
                raise ValueError("header values must not contain line breaks")
        self.campaign_id = campaign_id
        self.from_email = from_email
        self.domain = verp.bounce_domain(from_email)
        self.mid_domain = from_email.rpartition("@")[2]
        self.signing_keys = tuple(signing_keys)
        boundary = f"rb-{secrets.token_hex(12)}"
        list_id = settings.LIST_ID or f"newsletter.{self.mid_domain}"
        self.static_headers = [
            (
                "From",
                email.utils.formataddr((from_name, from_email))
                if from_name.isascii()
                else f"{_header_value(from_name)} <{from_email}>",
            ),
            ("Subject", _header_value(subject)),
            ("MIME-Version", "1.0"),
            ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
            ("List-Id", f"{_header_value(list_name)} <{list_id}>" if list_name else f"<{list_id}>"),
            # Gmail's Feedback Loop groups complaints by these fields (campaign:type:sender).
            ("Feedback-ID", f"c{campaign_id}:newsletter:rundbrief"),
            # RFC 8058 §3.1: one-click unsubscription by POST to the List-Unsubscribe https URI.
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ]
        if reply_to:
            self.static_headers.append(("Reply-To", reply_to))
        part_head = (
            '--{b}\r\nContent-Type: text/{t}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        )
        self.parts = [
            (part_head.format(b=boundary, t="plain").encode(), _Part(text_body, lambda v: v)),
            (part_head.format(b=boundary, t="html").encode(), _Part(html_body, html.escape)),
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

    def build(self, recipient: Recipient, now=None) -> Built:
        signing = bool(self.signing_keys)  # without a key there is no body hash to compute
        body, body_hash = [], self._body_hash_prefix.copy() if signing else None
        for index, item in enumerate(self._layout):
            if isinstance(item, bytes):
                body.append(item)
                if index and signing:
                    body_hash.update(self._canonical[index])
            else:
                part, name = item
                value = part.value(name, recipient)
                body.append(value)
                if signing:
                    body_hash.update(dkim.relaxed_body_lines(value))
        message_id = verp.message_id(self.campaign_id, recipient.delivery_id, self.mid_domain)
        unsubscribe_mailto = verp.unsubscribe_mailbox(recipient.delivery_id, self.domain)
        headers = [
            *self.static_headers,
            ("To", recipient.email),
            ("Date", email.utils.formatdate(now, localtime=False)),
            ("Message-ID", message_id),
            ("List-Unsubscribe", f"<{recipient.unsubscribe_url}>, <mailto:{unsubscribe_mailto}?subject=unsubscribe>"),
        ]
        lines = []
        if signing:
            digest = body_hash.digest()
            lines = [dkim.signature_header(key, headers, digest) for key in self.signing_keys]
        lines += [f"{name}: {value}" for name, value in headers]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
        return Built(
            envelope_from=verp.return_path(recipient.delivery_id, self.domain),
            recipient=recipient.email,
            message_id=message_id,
            data=head + b"".join(body),
        )


class CampaignMessage:
    """A compiled campaign that builds messages for claimed delivery rows (protocols.Claimed)."""

    def __init__(self, compiled: CompiledMessage, site_url: str):
        self.compiled = compiled
        self.site_url = site_url
        self.from_domain = compiled.from_email.rpartition("@")[2].lower()

    def build(self, claimed, now=None) -> Built:
        unsubscribe_url, preferences_url = recipient_links(self.site_url, claimed.public_id)
        recipient = Recipient(
            delivery_id=claimed.delivery_id,
            campaign_id=claimed.campaign_id,
            email=claimed.email,
            unsubscribe_url=unsubscribe_url,
            preferences_url=preferences_url,
        )
        return self.compiled.build(recipient, now)


def recipient_links(site_url, public_id):
    """(unsubscribe URL, preference-centre URL) of the subscriber `public_id`: what replaces the
    placeholders in every message, and, for a made-up id, in the admin's preview."""
    from rundbrief.audience import tokens

    return (
        f"{site_url}/u/{tokens.make_token(tokens.UNSUBSCRIBE, public_id)}",
        f"{site_url}/p/{tokens.make_token(tokens.PREFERENCES, public_id)}",
    )


def compile_campaign(campaign, *, html=None, text=None, subject=None) -> CampaignMessage:
    """Compile a scheduled campaign's frozen content (or the given draft content, for test sends)."""
    from rundbrief.delivery.keys import signing_keys
    from rundbrief.newsroom.models import SiteProfile

    compiled = CompiledMessage(
        campaign_id=campaign.pk,
        subject=subject if subject is not None else campaign.frozen_subject,
        html_body=html if html is not None else campaign.frozen_html,
        text_body=text if text is not None else campaign.frozen_text,
        from_name=campaign.from_name,
        from_email=campaign.from_email,
        reply_to=campaign.reply_to,
        list_name=SiteProfile.load().site_name,
        signing_keys=signing_keys(campaign.from_email),
    )
    return CampaignMessage(compiled, settings.SITE_URL)
