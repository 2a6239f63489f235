"""Tolerant reading of whatever arrives: headers in any charset, text parts, report fields, addresses.

Everything here returns something usable for broken input (wrong or unknown
charsets, missing boundaries, undecodable base64) and never raises: real bounces
are produced by decades of MTAs, and some of them are plain wrong.
"""

import base64
import binascii
import email
import email.header
import email.utils
import quopri
import re

from rundbrief.outbound import verp

MAX_TEXT = 200_000  # characters per part: enough for any real report, bounds regex time on huge inputs
ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.[A-Za-z0-9-]{2,}$")
# The ids our own mail carries (rundbrief/outbound/verp.py); each is checked against its MAC.
VERP_IN_TEXT = re.compile(rb"(?:bounces|unsubscribe)\+\d{1,19}-[a-z2-7]{10}@[A-Za-z0-9.-]+", re.I)
MESSAGE_ID_IN_TEXT = re.compile(rb"<rb\.(\d{1,19})\.(\d{1,19})\.([a-z2-7]{10})@([A-Za-z0-9.-]+)>", re.I)
# Where the quoted original starts in MTAs' text bounces: codes below belong to the newsletter, not the bounce.
ORIGINAL_STARTS = re.compile(
    r"^\s*(?:-+ ?(?:Below this line is a copy of the message|This is a copy of the message|Original message"
    r"|Original Message|Message header follows|Returned message|Unsent Message below)|Original message follows)",
    re.I | re.M,
)


def parse_bytes(raw: bytes):
    # compat32 is the tolerant, fast policy; the `default` policy raises on some broken headers.
    return email.message_from_bytes(raw)


def decode_bytes(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", "replace")
    except (LookupError, TypeError):  # unknown charset name (e.g. "x-unknown", "utf-99")
        return data.decode("latin-1")


def header(msg, name: str) -> str:
    """One header, RFC 2047 encoded-words decoded; "" when absent or unreadable."""
    try:
        value = msg.get(name)
    except Exception:  # noqa: BLE001 — a malformed header must not stop classification
        return ""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        value = str(value)
    try:
        chunks = email.header.decode_header(value)
    except Exception:  # noqa: BLE001
        return str(value)
    out = []
    for chunk, charset in chunks:
        out.append(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return " ".join(" ".join(out).split())


def payload_text(part) -> str:
    """The decoded body of a non-multipart part as text."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 — undecodable base64 and the like
        data = None
    if data is None:
        payload = part.get_payload()
        return payload[:MAX_TEXT] if isinstance(payload, str) else ""
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001
        charset = None
    return decode_bytes(data[: MAX_TEXT * 2], charset)[:MAX_TEXT]


def fields_text(part) -> str:
    """The text of a message/delivery-status or message/feedback-report part.

    Python's parser turns these into a list of header blocks (one Message per
    block, RFC 3464 §2.1); a base64-encoded or otherwise odd one stays a string.
    """
    payload = part.get_payload()
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if isinstance(payload, list) and encoding in ("base64", "quoted-printable"):
        # The parser split the still-encoded text into "blocks"; put it back together and decode it.
        encoded = "\n".join(str(block.get_payload()) for block in payload if isinstance(block.get_payload(), str))
        return _decode_transfer(encoded, encoding)
    if isinstance(payload, list):
        blocks = []
        for block in payload:
            try:
                lines = [f"{name}: {value}" for name, value in block.items()]
            except Exception:  # noqa: BLE001
                continue
            body = block.get_payload()
            if isinstance(body, str) and body.strip():
                lines.append(body)  # a field block without the blank line the parser expects
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)
    return payload_text(part)


def _decode_transfer(text: str, encoding: str) -> str:
    data = text.encode("ascii", "replace")
    try:
        data = base64.b64decode(data) if encoding == "base64" else quopri.decodestring(data)
    except (binascii.Error, ValueError):
        return text
    return decode_bytes(data, "utf-8")


def field_blocks(text: str) -> list[dict]:
    """RFC 3464 §2.1 / RFC 5965 §3.1: groups of "Name: value" lines separated by blank lines; names lower-cased."""
    blocks, current, last = [], {}, None
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
            continue
        if line[:1] in " \t" and last:
            current[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            continue
        last = name.strip().lower()
        current.setdefault(last, value.strip())
    if current:
        blocks.append(current)
    return blocks


def address(value: str | None) -> str | None:
    """A bare, lower-cased address from "rfc822; <a@b.example>", "Name <a@b>" or similar; None if none."""
    if not value:
        return None
    value = value.strip()
    kind, sep, rest = value.partition(";")
    if sep and "@" not in kind:  # RFC 3464 address-type (rfc822, utf-8 per RFC 6533)
        value = rest.strip()
    try:
        candidate = email.utils.parseaddr(value)[1] or value
    except Exception:  # noqa: BLE001
        candidate = value
    candidate = candidate.strip().strip("<>").strip().rstrip(".").lower()
    return candidate if ADDRESS.match(candidate) else None


def texts(msg, limit: int = 8):
    """(content type, text) of the text parts a human or an MTA wrote — not of an enclosed original message."""
    found = []

    def visit(part, depth):
        if len(found) >= limit or depth > 10:
            return
        try:
            maintype, ctype = part.get_content_maintype(), part.get_content_type()
        except Exception:  # noqa: BLE001
            return
        if part.is_multipart() and maintype == "multipart":
            payload = part.get_payload()
            for sub in payload if isinstance(payload, list) else []:
                visit(sub, depth + 1)
        elif maintype == "text" and ctype != "text/rfc822-headers":
            found.append((ctype, payload_text(part)))
        elif maintype == "multipart":  # the boundary is broken or missing: the body is one text
            found.append(("text/plain", payload_text(part)))

    visit(msg, 0)
    return found


def without_quoted_original(text: str) -> str:
    match = ORIGINAL_STARTS.search(text)
    return text[: match.start()] if match else text


def parts_of_type(msg, *types):
    try:
        return [part for part in msg.walk() if part.get_content_type() in types]
    except Exception:  # noqa: BLE001
        return []


def our_references(raw: bytes, extra: str = "", envelope_recipient: str | None = None):
    """(delivery id, campaign id) named by our VERP addresses or Message-IDs; forged MACs are ignored.

    The envelope recipient (the address the bounce was sent to) wins; then any
    VERP address or Message-ID of ours found in the headers, the report or the
    enclosed original (RFC 3464 §2.4 returns it as message/rfc822 or text/rfc822-headers).
    """
    if envelope_recipient:
        delivery = verp.parse_return_path(envelope_recipient)
        if delivery is not None:
            return delivery, _campaign_from_ids(raw, extra, delivery)
    haystacks = (raw, extra.encode("utf-8", "replace")) if extra else (raw,)
    for haystack in haystacks:
        for match in VERP_IN_TEXT.finditer(haystack):
            candidate = match.group(0).decode("ascii", "replace")
            prefix = candidate.split("+", 1)[0].lower()
            delivery = verp.parse_return_path(candidate, prefix=prefix)
            if delivery is not None:
                return delivery, _campaign_from_ids(raw, extra, delivery)
    for campaign, delivery in _message_ids(raw, extra):
        return delivery, campaign
    return None, None


def _message_ids(raw, extra):
    for haystack in (raw, extra.encode("utf-8", "replace")):
        for match in MESSAGE_ID_IN_TEXT.finditer(haystack):
            campaign, delivery, _mac, domain = (g.decode("ascii", "replace") for g in match.groups())
            if verp.message_id(int(campaign), int(delivery), domain).lower() == match.group(0).decode().lower():
                yield int(campaign), int(delivery)


def _campaign_from_ids(raw, extra, delivery):
    for campaign, found in _message_ids(raw, extra):
        if found == delivery:
            return campaign
    return None
