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

import json
import logging
import re
from dataclasses import dataclass, field, replace

from flufl.bounce import all_failures

from rundbrief.bounces import mime, reasons
from rundbrief.bounces.judge import judge
from rundbrief.bounces.status import refine, status_from_text

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
# RFC 5965 §7.3 Feedback-Types. Every report is read (JSON kind `complaint`, reason `feedback`); what it does
# depends on the type: a reader's complaint withdraws consent, a DMARC/SPF failure report (RFC 6591
# auth-failure) is about our authentication, and "not-spam" is a reader rescuing our mail.
NOT_COMPLAINTS = {"not-spam"}
ABOUT_THE_SENDER = {"auth-failure"}
HOTMAIL_COMPLAINT = re.compile(r"^\s*complaint about message from", re.I)
SES_JSON = re.compile(rb'\\?"(?:notificationType|eventType)\\?"\s*:\s*\\?"(?:Bounce|Complaint)')

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
# A Sendmail/V5 transcript: "550 <a@b>... User unknown", "<<< 550 <a@b>, User Unknown", ">>> RCPT To:<a@b>".
TRANSCRIPT = re.compile(
    r"^[ \t]*(?:<<< ?)?[45]\d\d[ -](?:[45]\.\d{1,3}\.\d{1,3} )?<([^<>\s]+@[^<>\s]+)>(?:\.\.\.|,|:)[ \t]*([^\n]*)",
    re.M,
)
# "…to the following recipients:" then the address alone on a line (Amazon WorkMail, X3, Exchange variants).
FOLLOWING = re.compile(
    r"following (?:recipient|address)(?:s|\(s\)|es|\(es\))?[^\n]{0,40}:?[ \t]*\n(?:[ \t]*\n)?"
    r"[ \t]*\*?[ \t]*<?([^<>\s,;]+@[^<>\s,;]+?)>?[ \t]*\n(.*?)(?=\n\s*\n|\Z)",
    re.S | re.I,
)
STATUS_FIELD = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")  # RFC 3464 §2.3.4, maybe followed by a comment
CODE_IN_PARENS = re.compile(r"#([245]\.\d{1,3}\.\d{1,3})")  # qmail's "(#5.1.1)"


@dataclass(frozen=True)
class Failure:
    """One recipient the report says failed (or is delayed), with the server's own words."""

    address: str | None
    status: str | None
    reason: str
    diagnosis: str = ""

    @classmethod
    def judged(cls, address, diagnosis, status, action="failed", command=""):
        """The failure with its reason judged from the server's words, code, action and command."""
        return cls(address, status, judge(diagnosis, status, action, command), diagnosis[:DIAGNOSIS_KEPT])

    @property
    def kind(self):
        return reasons.kind(self.reason)

    def as_json(self) -> dict:
        return {
            "recipient": self.address,
            "status": self.status,
            "kind": reasons.public_kind(self.reason),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Classification:
    is_bounce: bool
    kind: str | None = None  # hard, soft, complaint, sender_policy (bounces/reasons.py)
    recipient: str | None = None
    status: str | None = None
    reason: str | None = None  # a word of reasons.Reason
    diagnosis: str = ""
    delivery_id: int | None = None
    campaign_id: int | None = None
    failures: tuple = field(default=())
    note: str = ""  # why a message is not a bounce, for logs

    @property
    def recipients(self) -> tuple:
        return tuple(f.address for f in self.failures if f.address)

    def as_json(self, file: str) -> dict:
        """The `rundbrief bounces classify --json` contract (docs/bounces.md)."""
        vacation = self.reason == reasons.Reason.VACATION
        return {
            "file": file,
            # An auto-reply is a report about our message, as the reference classifier reads it; its
            # kind stays null and it changes nothing (reasons.Policy.IGNORE).
            "is_bounce": self.is_bounce or vacation,
            "recipient": self.recipient,
            "recipients": [f.as_json() for f in self.failures]
            or ([Failure(self.recipient, None, self.reason).as_json()] if vacation else []),
            "kind": reasons.public_kind(self.reason) if self.is_bounce and self.reason else None,
            "status": self.status,
            "reason": self.reason,
            "diagnosis": self.diagnosis[:DIAGNOSIS_JSON],
        }


DIAGNOSIS_JSON = 200
DIAGNOSIS_KEPT = 500  # BounceEvent.diagnosis's length


def not_a_bounce(note, **refs):
    return Classification(False, note=note, **refs)


def bounce(failures, **refs):
    """The Classification of a report: its first failure speaks for it (the JSON's `recipient`)."""
    first = failures[0]
    return Classification(
        True, first.kind, first.address, first.status, first.reason, first.diagnosis, failures=tuple(failures), **refs
    )


def reply_failure(reply_text: str, command: str = "RCPT") -> Failure:
    """A synchronous SMTP reply during delivery, e.g. "550 5.1.1 <a@example.org>: user unknown".

    The delivery engine's refusals come almost always at RCPT (where servers check the mailbox), so
    that is the default; a caller that knows the refusal came after DATA says so.
    """
    diagnosis = " ".join((reply_text or "").split())
    status = status_from_text(diagnosis, "5")
    return Failure.judged(None, diagnosis, status, command=command)


def classify(raw: bytes, envelope_recipient: str | None = None, *, references: bool = True) -> Classification:
    """references=False skips looking for our VERP ids and Message-IDs (they need the site's secret)."""
    try:
        return _classify(raw or b"", envelope_recipient, references)
    except Exception:  # noqa: BLE001 — input from the internet: a bug in a corner must not stop the receiver
        log.warning("bounce classification failed", exc_info=True)
        return not_a_bounce("unparseable message")


def _no_references(extra):
    return {}


def _classify(raw: bytes, envelope_recipient, references=True):
    if not raw.strip():
        return not_a_bounce("empty message")
    raw = raw[:MAX_BYTES]
    if not HEADER_LINE.match(raw.lstrip(b"\r\n")) or raw.count(b"\x00") > 16:
        return not_a_bounce("not an e-mail message")
    msg = mime.parse_bytes(raw)

    def find(extra):
        """{delivery_id, campaign_id} of ours in the message; extra() gives the enclosed original's text."""
        delivery_id, campaign_id = mime.our_references(raw, extra(), envelope_recipient)
        return {"delivery_id": delivery_id, "campaign_id": campaign_id}

    find = find if references else _no_references
    if not msg.keys():
        return not_a_bounce("not an e-mail message")
    ctype = msg.get_content_type()
    report_type = (msg.get_param("report-type") or "") if ctype == "multipart/report" else ""
    report_type = str(report_type).lower()
    feedback = mime.parts_of_type(msg, "message/feedback-report")
    if report_type == "feedback-report" or feedback:
        return _from_arf(msg, feedback, find)
    if ctype == "multipart/report" or mime.parts_of_type(msg, *REPORT_FIELDS):
        result = _from_dsn(msg, find)
        if result is not None:
            return result
    sender, subject = mime.header(msg, "From"), mime.header(msg, "Subject")
    if BOUNCE_SENDER.search(sender) or BOUNCE_SUBJECT.search(subject):
        result = _from_text(msg, find)
        if result is not None:
            return result
    if HOTMAIL_COMPLAINT.search(subject) and mime.parts_of_type(msg, "message/rfc822"):
        return _from_hotmail_complaint(msg, find)
    if ctype == "text/plain" and SES_JSON.search(raw):
        result = _from_ses_json(msg, find)
        if result is not None:
            return result
    if _is_auto_reply(msg, subject):
        return Classification(
            False, reason=reasons.Reason.VACATION.value, recipient=mime.address(sender), note="auto-reply (RFC 3834)"
        )
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


def _from_dsn(msg, find):
    """RFC 3464: the per-recipient fields name the address (Final-Recipient), what happened (Action) and why."""
    text = "\n\n".join(mime.fields_text(part) for part in mime.parts_of_type(msg, *REPORT_FIELDS))
    recipients = [b for b in mime.field_blocks(text) if "final-recipient" in b or "original-recipient" in b]
    refs = find(lambda: _originals_text(msg))
    if not recipients:
        return None  # no per-recipient fields: let the text heuristics try
    failed = [b for b in recipients if _action(b).startswith(("failed", "delayed", "expired"))]
    if not failed:
        return not_a_bounce(f"delivery report: {_action(recipients[0]) or 'delivered'}", **refs)
    failed.sort(key=lambda b: not _action(b).startswith("failed"))  # a failure speaks before a delay
    human = None
    failures = []
    for block in failed:
        diagnosis = " ".join(block.get("diagnostic-code", "").split())
        _, sep, rest = diagnosis.partition(";")
        if sep and len(_) < 12 and " " not in _.strip():  # RFC 3464 §2.3.6 diagnostic-type ("smtp; 550 …")
            diagnosis = rest.strip()
        address = mime.address(block.get("final-recipient")) or mime.address(block.get("original-recipient"))
        status = refine(_status_field(block.get("status", "")), diagnosis)
        command = _command(diagnosis)
        if not diagnosis or not command:  # the reason or the command may be only in the human-readable part
            human = _human_text(msg) if human is None else human
            paragraph = _paragraph_about(human, address)
            diagnosis = diagnosis or paragraph
            command = command or _command(paragraph)
        if not status:
            status = status_from_text(diagnosis, "4" if _action(block).startswith("delayed") else "5")
        failures.append(Failure.judged(address, diagnosis, status, _action(block), command))
    return bounce(failures, **refs)


def _action(block):
    return block.get("action", "failed").strip().lower()


COMMAND = re.compile(
    r"\b(?:in reply to|after|while sending|during)\s+(?:the\s+)?"
    r"(RCPT|MAIL|DATA|end of data|HELO|EHLO|initial connection)"
    r"|>>> (RCPT|MAIL|DATA)\b|(does not like recipient|RCPT TO generated|RCPT TO:\s*<)",
    re.I,
)
_COMMANDS = {"END OF DATA": "DATA", "INITIAL CONNECTION": "CONNECT", "HELO": "CONNECT", "EHLO": "CONNECT"}


def _command(text):
    """The SMTP command a rejection answered, from Postfix's "in reply to RCPT TO command", Exim's
    "after MAIL FROM", a Sendmail transcript's ">>> RCPT To:" or qmail's "does not like recipient"."""
    match = COMMAND.search(text or "")
    if not match:
        return ""
    if match.group(3):
        return "RCPT"
    word = " ".join((match.group(1) or match.group(2)).upper().split())
    return _COMMANDS.get(word, word)


def _human_text(msg):
    plain = [t for ctype, t in mime.texts(msg) if ctype == "text/plain"]
    return mime.without_quoted_original("\n\n".join(plain).replace("\r\n", "\n"))


def _paragraph_about(text, address):
    """The paragraph of a human-readable report that names the address (or the whole text, shortened)."""
    if address:
        at = text.lower().find(address)
        if at >= 0:
            end = text.find("\n\n", at + len(address) + 2)
            return " ".join(text[at : end if end > 0 else at + 600].split())[:500]
    return " ".join(text.split())[:500]


def _status_field(value):
    status = STATUS_FIELD.match(value.strip()) if value else None
    return status.group(0) if status else None


def _from_arf(msg, feedback, find):
    """RFC 5965: Feedback-Type abuse (or fraud) is a complaint; the recipient is Original-Rcpt-To or the
    enclosed message's To — often redacted by the provider, so our VERP/Message-ID ids matter most."""
    fields = {}
    for part in feedback:
        for block in mime.field_blocks(mime.fields_text(part)):
            fields.update({k: v for k, v in block.items() if k not in fields})
    refs = find(lambda: _originals_text(msg))
    feedback_type = fields.get("feedback-type", "").strip().lower()
    if feedback_type in NOT_COMPLAINTS:
        return not_a_bounce(f"feedback report: {feedback_type}", **refs)
    recipient = mime.address(fields.get("original-rcpt-to")) or mime.address(fields.get("removed-recipient"))
    recipient = recipient or _enclosed_recipient(msg)
    agent = fields.get("user-agent", "")
    note = f"ARF {feedback_type or 'abuse'}" + (f" from {agent}"[:80] if agent else "")
    return _complaint(recipient, note, refs, sender=feedback_type in ABOUT_THE_SENDER)


def _complaint(recipient, note, refs, sender=False):
    result = bounce([Failure(recipient, None, reasons.Reason.FEEDBACK.value, note)], **refs)
    return replace(result, kind=reasons.SENDER_POLICY) if sender else result


def _enclosed_recipient(msg, header="To"):
    """The recipient named by the enclosed original (message/rfc822 or text/rfc822-headers)."""
    for part in mime.parts_of_type(msg, *ORIGINALS):
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if inner is None and isinstance(payload, str):
            inner = mime.parse_bytes(payload.encode("utf-8", "replace"))
        if inner is not None:
            recipient = mime.address(mime.header(inner, header))
            if recipient:
                return recipient
    return None


def _from_hotmail_complaint(msg, find):
    """Outlook.com's JMRP without ARF: "complaint about message from <ip>", the original attached,
    the complaining recipient in its X-HmXmrOriginalRecipient header."""
    recipient = _enclosed_recipient(msg, "X-HmXmrOriginalRecipient") or _enclosed_recipient(msg)
    return _complaint(recipient, "complaint (Outlook.com JMRP)", find(lambda: _originals_text(msg)))


def _from_ses_json(msg, find):
    """Amazon SES notifications forwarded by mail: one JSON object with bounced or complained recipients."""
    text = mime.payload_text(msg)
    try:  # the JSON object may be followed by the notification service's footer
        data, _ = json.JSONDecoder(strict=False).raw_decode(text, text.find("{"))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("Message"), str):  # wrapped in an SNS envelope
        try:
            data = json.loads(data["Message"])
        except ValueError:
            return None
    kind = str(data.get("notificationType") or data.get("eventType") or "").lower()
    refs = find(lambda: "")
    if kind == "complaint":
        people = (data.get("complaint") or {}).get("complainedRecipients") or [{}]
        return _complaint(mime.address(str(people[0].get("emailAddress", ""))), "complaint (Amazon SES)", refs)
    if kind != "bounce":
        return None
    info = data.get("bounce") or {}
    failures = []
    for person in info.get("bouncedRecipients") or []:
        diagnosis = " ".join(str(person.get("diagnosticCode", "")).split())
        status = _status_field(str(person.get("status", ""))) or status_from_text(diagnosis, "5")
        action = "delayed" if str(info.get("bounceType", "")).lower() == "transient" else "failed"
        address = mime.address(str(person.get("emailAddress", "")))
        failures.append(Failure.judged(address, diagnosis, status, action, _command(diagnosis)))
    return bounce(failures, **refs) if failures else None


def _from_text(msg, find):
    """Bounces without RFC 3464 fields: find each failed address and the paragraph that says why."""
    parts = mime.texts(msg)
    plain = [t for ctype, t in parts if ctype == "text/plain"] or [
        re.sub(r"<[^>]{0,2000}>", " ", t)
        for _, t in parts  # an HTML-only NDR: drop the tags
    ]
    body = mime.without_quoted_original("\n\n".join(plain).replace("\r\n", "\n"))
    refs = find(lambda: "")
    found = []
    for pattern in (EXIM_FAILED, SENDMAIL_FATAL, EXCHANGE_LIST, ANGLE_PARAGRAPH, TRANSCRIPT, FOLLOWING):
        for match in pattern.finditer(body):
            address = mime.address(match.group(1))
            if address and address not in {a for a, _ in found}:
                found.append((address, match.group(2)))
    temporary, permanent = _flufl(msg)
    if not found:
        address = _first(permanent) or _first(temporary)
        if address is None and not (permanent or temporary):
            if _status_in(body, permanent, temporary) is None:
                return None
        found = [(address, body)]
    failures = []
    body_command = _command(body)  # a transcript names the command a line before the reply
    for address, paragraph in found:
        status = _status_in(paragraph, permanent, temporary) or _status_in(body, permanent, temporary)
        diagnosis = " ".join(paragraph.split())[:500] or _paragraph_about(body, address)
        action = "delayed" if (status or "").startswith("4") or (temporary and not permanent) else "failed"
        command = _command(diagnosis) or body_command
        failures.append(Failure.judged(address, diagnosis, status, action, command))
    return bounce(failures, **refs)


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
