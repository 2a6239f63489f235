"""Status codes → hard, soft or sender policy, from RFC 3463 enhanced codes, basic SMTP codes or words.

Rules (docs/bounces.md):

* 5.x.x is a hard bounce: the address will not start working by itself.
* 4.x.x is soft: try again, count it.
* 5.2.2 (mailbox full, RFC 3463 §3.3) is soft although permanent in form: the
  mailbox exists and is often emptied again.
* 5.7.x (security or policy status, RFC 3463 §3.8) is mostly about *us*: SPF,
  DKIM, DMARC, reputation, Outlook's "550 5.7.515 access denied, sending domain
  does not meet the required authentication level". The recipient is fine, so it
  is `sender_policy`: an operator alert, no suppression. 5.7.1 is ambiguous —
  "relaying denied / you are blocked" (sender) or "recipient rejects mail" —
  so it is sender policy unless the text says the mailbox is refused.
"""

import re

HARD, SOFT, COMPLAINT, SENDER_POLICY = "hard", "soft", "complaint", "sender_policy"

# RFC 3463 §3.1: class.subject.detail; subject and detail have at most three digits.
ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
# A basic reply code (RFC 5321 §4.2) at the start of a reply line or after a colon/"said:".
# Only the codes that mean a failure (421, 450-454, 550-554), so port numbers and years do not match.
BASIC = re.compile(r"(?:^|[\s:;(\"'])(421|45[0-4]|55[0-4])(?:[ :-]|$)", re.M)

# Words MTAs write when no code is given (English and German).
_WORDS = [
    (
        re.compile(
            r"(mailbox|quota|postfach|speicher)[^\n]{0,30}(full|exceeded|voll|überschritten|ueberschritten)"
            r"|over ?quota|insufficient (storage|space)|mailbox is full",
            re.I,
        ),
        "2.2",
    ),
    (
        re.compile(
            r"(account|mailbox) (has been |is )?(disabled|deactivated|closed|suspended)"
            r"|gesperrt|deaktiviert",
            re.I,
        ),
        "2.1",
    ),
    (
        re.compile(
            r"user(name)? unknown|unknown user|no such (user|mailbox|recipient|address)|does not exist"
            r"|doesn't (exist|have an?( [\w.]+)? account)|not exist|no mailbox here|invalid (recipient|mailbox)"
            r"|recipient (not found|unknown|rejected)"
            r"|unbekannt|existiert nicht|nicht vorhanden|address rejected",
            re.I,
        ),
        "1.1",
    ),
    (
        re.compile(
            r"(host|domain) not found|no (mx|mail exchanger)|name or service not known|unrouteable"
            r"|nxdomain",
            re.I,
        ),
        "1.2",
    ),
    (
        re.compile(
            r"dmarc|spf|dkim|sender (policy|authentication)|not authori[sz]ed to send|authentication level"
            r"|blocked using|listed (at|in|on)|spamhaus|poor reputation|blocklist|blacklist",
            re.I,
        ),
        "7.1",
    ),
    (re.compile(r"too many|rate limit|try again later|temporar|deferred|greylist|throttl|delayed", re.I), "4.0"),
]
# 5.7.1 said about the recipient, not the sender.
_RECIPIENT_REFUSES = re.compile(
    r"recipient (address )?rejected|mailbox unavailable|not accept(ing)? mail|"
    r"does not accept|no such user|user unknown",
    re.I,
)

_DESCRIPTIONS = {
    "0.0": "other or undefined status",
    "1.0": "other address status",
    "1.1": "bad destination mailbox address",
    "1.2": "bad destination system address",
    "1.3": "bad destination mailbox address syntax",
    "1.6": "destination mailbox has moved",
    "1.10": "recipient not found (Microsoft) or null MX (RFC 7505)",
    "2.0": "other or undefined mailbox status",
    "2.1": "mailbox disabled, not accepting messages",
    "2.2": "mailbox full",
    "2.3": "message length exceeds administrative limit",
    "3.0": "other or undefined mail system status",
    "3.4": "message too big for system",
    "4.0": "other or undefined network or routing status",
    "4.1": "no answer from host",
    "4.4": "unable to route",
    "4.7": "delivery time expired",
    "5.0": "other or undefined protocol status",
    "7.0": "other or undefined security status",
    "7.1": "delivery not authorized, message refused",
    "7.26": "multiple authentication checks failed",
    "7.509": "sender domain fails DMARC",
    "7.515": "sending domain does not meet the required authentication level",
}


def find_enhanced(text: str) -> str | None:
    """The first RFC 3463 enhanced status code in text, or None."""
    match = ENHANCED.search(text or "")
    return ".".join(match.groups()) if match else None


def find_basic(text: str) -> str | None:
    match = BASIC.search(text or "")
    return match.group(1) if match else None


def word_code(text: str) -> str | None:
    """subject.detail guessed from the words of a reply, e.g. "1.1" for "user unknown"."""
    for pattern, code in _WORDS:
        if pattern.search(text or ""):
            return code
    return None


def status_from_text(text: str, default_class: str | None = None) -> str | None:
    """The best status code a free-text reply supports.

    An enhanced code wins. A basic code alone (Yahoo's "554 delivery error")
    gives its class with the subject/detail the words suggest, or x.0.0 (RFC 3463
    §3.1: "other undefined status"). Only words: their code in default_class.
    """
    enhanced = find_enhanced(text)
    if enhanced:
        return enhanced
    basic = find_basic(text)
    words = word_code(text)
    klass = basic[0] if basic else default_class
    if klass is None:
        return None
    if words == "4.0":  # "try again later" is a class, not a subject
        return f"{klass}.0.0" if basic else "4.0.0"
    if words == "2.2" and not basic:
        return "4.2.2"  # mailbox full with no code: treat as the temporary condition it is
    return f"{klass}.{words or '0.0'}"


def refine(status: str | None, diagnostic: str) -> str | None:
    """A DSN's Status may be a vague x.0.0 while its Diagnostic-Code has the precise code (Outlook, Gmail)."""
    precise = find_enhanced(diagnostic)
    if status and precise and precise != status and precise[0] == status[0]:
        vague = status.endswith(".0.0") or precise.startswith(status.rsplit(".", 1)[0] + ".")
        if vague:
            return precise
    return status or precise


def kind_for(status: str | None, text: str = "") -> str | None:
    """hard, soft or sender_policy for a status code (and the reply's words for 5.7.1)."""
    if not status:
        return None
    klass, _, rest = status.partition(".")
    if klass == "4":
        return SOFT
    if klass != "5":
        return None
    if rest == "2.2":
        return SOFT  # mailbox full: RFC 3463 §3.3 calls it permanent, practice calls it temporary
    if rest.startswith("7."):
        if rest == "7.1" and _RECIPIENT_REFUSES.search(text or ""):
            return HARD
        return SENDER_POLICY
    return HARD


def describe(status: str | None) -> str:
    if not status:
        return ""
    rest = status.partition(".")[2]
    text = _DESCRIPTIONS.get(rest) or _DESCRIPTIONS.get(rest.split(".")[0] + ".0", "delivery status")
    return text


def classify_reply(reply_text: str) -> tuple[str | None, str | None]:
    """(kind, status) of a synchronous SMTP reply such as "550 5.1.1 <a@example.org>: user unknown"."""
    status = status_from_text(reply_text)
    return kind_for(status, reply_text), status
