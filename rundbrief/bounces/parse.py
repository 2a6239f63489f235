"""Classify one inbound message: delivery status notification, complaint, auto-reply or none of these.

    classify(raw_bytes, envelope_recipient=None) -> Classification

The order of the checks matters:

1. multipart/report; report-type=delivery-status → RFC 3464 DSN fields.
2. multipart/report; report-type=feedback-report → RFC 5965 ARF complaint.
3. A message that says it comes from a mail system (MAILER-DAEMON, postmaster,
   "Undelivered Mail", "Unzustellbar", …) → the text of Exim, qmail, Sendmail,
   old Exchange and Yahoo bounces, read by our own patterns and by flufl.bounce.
4. RFC 3834 auto-replies (Auto-Submitted: auto-replied, X-Autoreply, "Out of
   Office", "Abwesenheitsnotiz", …) → not a bounce. Checked after 3 because
   Postfix and others put "Auto-Submitted: auto-replied" on bounces too
   (RFC 3834 §5 allows it), and before nothing else: an auto-reply is sent from
   a null return path (RFC 3834 §3.3) exactly like a bounce.

classify() never raises: anything unexpected gives is_bounce False.
"""

import logging
import re
from dataclasses import dataclass, field

from flufl.bounce import all_failures

from rundbrief.bounces import mime
from rundbrief.bounces.status import COMPLAINT, HARD, SENDER_POLICY, SOFT, describe, kind_for, refine, status_from_text

log = logging.getLogger(__name__)
# flufl.bounce logs every detector it runs at INFO and re-raises detector errors after logging them at
# ERROR; classify() handles those itself, so its log would only repeat them.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

MAX_BYTES = 10 * 1024 * 1024
HEADER_LINE = re.compile(rb"^(?:From |>?[!-9;-~]{1,76}:)")
BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery (subsystem|system)|mail ?delivery|mdaemon", re.I)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|returned mail|delivery (status notification|failure|failed|has failed)"
    r"|mail delivery failed|failure notice|could not be delivered|nondeliverable|non-delivery"
    r"|unzustellbar|nicht zustellbar|unzustellbare|delivery incomplete|warning: could not send",
    re.I,
)
AUTO_SUBJECT = re.compile(
    r"^\s*(?:\[?auto(?:matic)?[ -]?(?:reply|response|antwort)|automatische (?:antwort|rückantwort|abwesenheit)"
    r"|abwesenheit|out of (?:the )?office|ooo\b|auto:|vacation|urlaub|away from (?:my|the) (?:desk|office)"
    r"|nicht im büro|abwesend|autoreply|auto-reply|réponse automatique)",
    re.I,
)
REPORT_FIELDS = ("message/delivery-status", "message/global-delivery-status", "text/delivery-status")
ORIGINALS = ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers", "message/global")
COMPLAINT_TYPES = {"abuse", "fraud", ""}

# "<a@b>: reason" (Postfix, qmail, Yahoo), Exim's indented list, Sendmail's "fatal errors" block.
ANGLE_PARAGRAPH = re.compile(r"^\s*<([^<>\s]+@[^<>\s]+)>:?\s*\n?(.*?)(?=\n\s*\n|\n\s*<[^<>\s]+@|\Z)", re.M | re.S)
EXIM_FAILED = re.compile(
    r"following address(?:\(es\))? failed:\s*\n\s*\n?[ \t]+<?([^<>\s]+@[^<>\s:]+)>?:?"
    r"\s*\n(.*?)(?=\n\s*\n|\Z)",
    re.S,
)
SENDMAIL_FATAL = re.compile(r"permanent fatal errors -+\s*\n\s*<?([^<>\s]+@[^<>\s]+?)>?\s*\n(.*?)(?=\n\s*\n|\Z)", re.S)
EXCHANGE_LIST = re.compile(
    r"(?:failed to these recipients or groups|could not be delivered to|could not be reached"
    r"|cannot be reached)[^\n]*:?\s*\n\s*\n?"
    r"\s*(?:[^\n<]*<)?([^<>\s()]+@[^<>\s()]+?)>?(?:[ \t][^\n]*)?\n(.*?)(?=\n\s*\n\s*\n|\Z)",
    re.S | re.I,
)
STATUS_FIELD = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")  # RFC 3464 §2.3.4, maybe followed by a comment
CODE_IN_PARENS = re.compile(r"#([245]\.\d{1,3}\.\d{1,3})")  # qmail's "(#5.1.1)"


@dataclass(frozen=True)
class Classification:
    is_bounce: bool
    kind: str | None = None  # hard, soft, complaint, sender_policy
    recipient: str | None = None
    status: str | None = None
    reason: str = ""
    diagnostic: str = ""
    delivery_id: int | None = None
    campaign_id: int | None = None
    recipients: tuple = field(default=())

    def as_json(self, file: str) -> dict:
        """The `rundbrief bounces classify --json` contract; a sender-policy rejection is reported as hard."""
        kind = HARD if self.kind == SENDER_POLICY else self.kind
        return {
            "file": file,
            "is_bounce": self.is_bounce,
            "recipient": self.recipient,
            "kind": kind,
            "status": self.status,
            "reason": self.reason,
        }


def not_a_bounce(reason, **refs):
    return Classification(False, reason=reason, **refs)


def classify(raw: bytes, envelope_recipient: str | None = None) -> Classification:
    try:
        return _classify(raw or b"", envelope_recipient)
    except Exception:  # noqa: BLE001 — input from the internet: a bug in a corner must not stop the receiver
        log.warning("bounce classification failed", exc_info=True)
        return not_a_bounce("unparseable message")


def _classify(raw: bytes, envelope_recipient):
    if not raw.strip():
        return not_a_bounce("empty message")
    raw = raw[:MAX_BYTES]
    if not HEADER_LINE.match(raw.lstrip(b"\r\n")) or raw.count(b"\x00") > 16:
        return not_a_bounce("not an e-mail message")
    msg = mime.parse_bytes(raw)
    if not msg.keys():
        return not_a_bounce("not an e-mail message")
    ctype = msg.get_content_type()
    report_type = (msg.get_param("report-type") or "") if ctype == "multipart/report" else ""
    report_type = str(report_type).lower()
    feedback = mime.parts_of_type(msg, "message/feedback-report")
    if report_type == "feedback-report" or feedback:
        return _from_arf(msg, raw, feedback, envelope_recipient)
    if ctype == "multipart/report" or mime.parts_of_type(msg, *REPORT_FIELDS):
        result = _from_dsn(msg, raw, envelope_recipient)
        if result is not None:
            return result
    sender, subject = mime.header(msg, "From"), mime.header(msg, "Subject")
    if BOUNCE_SENDER.search(sender) or BOUNCE_SUBJECT.search(subject):
        result = _from_text(msg, raw, envelope_recipient)
        if result is not None:
            return result
    if _is_auto_reply(msg, subject):
        return not_a_bounce("auto-reply (RFC 3834)")
    return not_a_bounce("not a bounce")


def _is_auto_reply(msg, subject):
    auto = mime.header(msg, "Auto-Submitted").lower()
    if auto.startswith("auto-replied"):
        return True
    if any(mime.header(msg, name) for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        return True
    if mime.header(msg, "Precedence").lower() == "auto_reply":
        return True
    return bool(AUTO_SUBJECT.search(subject)) or (
        auto.startswith("auto-generated") and "oof" in mime.header(msg, "X-Auto-Response-Suppress").lower()
    )


def _originals_text(msg):
    """The enclosed original (or its headers) as text, where our Message-ID and VERP address are found."""
    out = []
    for part in mime.parts_of_type(msg, *ORIGINALS):
        payload = part.get_payload()
        if isinstance(payload, list):
            out.extend(
                str(m.get("Message-ID", ""))
                + "\n"
                + str(m.get("Return-Path", ""))
                + "\n"
                + str(m.get("List-Unsubscribe", ""))
                + "\n"
                + str(m.get("To", ""))
                for m in payload
            )
        else:
            out.append(mime.payload_text(part))
    return "\n".join(out)


def _from_dsn(msg, raw, envelope_recipient):
    """RFC 3464: the per-recipient fields name the address (Final-Recipient), what happened (Action) and why."""
    text = "\n\n".join(mime.fields_text(part) for part in mime.parts_of_type(msg, *REPORT_FIELDS))
    recipients = [b for b in mime.field_blocks(text) if "final-recipient" in b or "original-recipient" in b]
    delivery_id, campaign_id = mime.our_references(raw, _originals_text(msg), envelope_recipient)
    refs = {"delivery_id": delivery_id, "campaign_id": campaign_id}
    if not recipients:
        return None  # no per-recipient fields: let the text heuristics try
    failed = [b for b in recipients if b.get("action", "failed").lower().startswith("failed")]
    delayed = [b for b in recipients if b.get("action", "").lower().startswith("delayed")]
    chosen = (failed or delayed or [None])[0]
    if chosen is None:
        action = recipients[0].get("action", "").lower() or "delivered"
        return not_a_bounce(f"delivery report: {action}", **refs)
    diagnostic = " ".join(chosen.get("diagnostic-code", "").split())
    status = refine(_status_field(chosen.get("status", "")), diagnostic)
    if not status:
        status = status_from_text(diagnostic, "5" if chosen in failed else "4")
    kind = SOFT if chosen in delayed and chosen not in failed else kind_for(status, diagnostic)
    if kind is None:
        kind = HARD if chosen in failed else SOFT
    recipient = mime.address(chosen.get("final-recipient")) or mime.address(chosen.get("original-recipient"))
    addresses = tuple(a for a in (mime.address(b.get("final-recipient")) for b in failed + delayed) if a)
    reason = "delivery delayed" if chosen not in failed else (describe(status) or "delivery failed")
    return Classification(True, kind, recipient, status, reason, diagnostic[:500], recipients=addresses, **refs)


def _status_field(value):
    status = STATUS_FIELD.match(value.strip()) if value else None
    return status.group(0) if status else None


def _from_arf(msg, raw, feedback, envelope_recipient):
    """RFC 5965: Feedback-Type abuse (or fraud) is a complaint; the recipient is Original-Rcpt-To or the
    enclosed message's To — often redacted by the provider, so our VERP/Message-ID ids matter most."""
    fields = {}
    for part in feedback:
        for block in mime.field_blocks(mime.fields_text(part)):
            fields.update({k: v for k, v in block.items() if k not in fields})
    originals = _originals_text(msg)
    delivery_id, campaign_id = mime.our_references(raw, originals, envelope_recipient)
    refs = {"delivery_id": delivery_id, "campaign_id": campaign_id}
    feedback_type = fields.get("feedback-type", "").strip().lower()
    if feedback_type not in COMPLAINT_TYPES:
        return not_a_bounce(f"feedback report: {feedback_type}", **refs)
    recipient = mime.address(fields.get("original-rcpt-to")) or mime.address(fields.get("removed-recipient"))
    if recipient is None:
        for part in mime.parts_of_type(msg, *ORIGINALS):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if inner is None and isinstance(payload, str):
                inner = mime.parse_bytes(payload.encode("utf-8", "replace"))
            if inner is not None:
                recipient = mime.address(mime.header(inner, "To"))
                if recipient:
                    break
    agent = fields.get("user-agent", "")
    reason = f"spam complaint (ARF {feedback_type or 'abuse'})" + (f" from {agent}"[:80] if agent else "")
    return Classification(
        True, COMPLAINT, recipient, None, reason, recipients=(recipient,) if recipient else (), **refs
    )


def _from_text(msg, raw, envelope_recipient):
    """Bounces without RFC 3464 fields: find each failed address and the paragraph that says why."""
    parts = mime.texts(msg)
    plain = [t for ctype, t in parts if ctype == "text/plain"] or [
        re.sub(r"<[^>]{0,2000}>", " ", t)
        for _, t in parts  # an HTML-only NDR: drop the tags
    ]
    body = mime.without_quoted_original("\n\n".join(plain).replace("\r\n", "\n"))
    delivery_id, campaign_id = mime.our_references(raw, "", envelope_recipient)
    refs = {"delivery_id": delivery_id, "campaign_id": campaign_id}
    found = []
    for pattern in (EXIM_FAILED, SENDMAIL_FATAL, EXCHANGE_LIST, ANGLE_PARAGRAPH):
        for match in pattern.finditer(body):
            address = mime.address(match.group(1))
            if address and address not in {a for a, _ in found}:
                found.append((address, match.group(2)))
    temporary, permanent = _flufl(msg)
    paragraph = found[0][1] if found else body
    recipient = found[0][0] if found else _first(permanent) or _first(temporary)
    status = _status_in(paragraph, permanent, temporary) or _status_in(body, permanent, temporary)
    if not status and not recipient:
        return None
    kind = kind_for(status, paragraph)
    if kind is None:
        kind = SOFT if (temporary and not permanent) else HARD
    addresses = tuple(a for a, _ in found) or tuple(sorted(a.decode("utf-8", "replace") for a in permanent))
    diagnostic = " ".join(paragraph.split())[:500]
    reason = describe(status) or ("delivery failed" if kind == HARD else "delivery delayed")
    return Classification(True, kind, recipient, status, reason, diagnostic, recipients=addresses, **refs)


def _status_in(text, permanent, temporary):
    qmail = CODE_IN_PARENS.search(text)
    if qmail:
        return qmail.group(1)
    default = "5" if permanent else ("4" if temporary else None)
    return status_from_text(text, default)


def _flufl(msg):
    """flufl.bounce's detectors (Mailman's) for the many text formats; they may raise on odd input."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001
        return frozenset(), frozenset()
    return frozenset(temporary), frozenset(permanent)


def _first(addresses):
    for value in sorted(addresses):
        address = mime.address(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
        if address:
            return address
    return None
