"""One failed recipient → a reason word, from the server's text, the status code, the SMTP command and the action.

    judge(diagnosis, status, action="failed", command="") -> reason word (bounces/reasons.py)

In this order:

1. The server's own words (bounces/phrases.py), because codes are reused for
   anything: `550 5.0.0` and `554 5.7.1` say "no" without saying why, and even
   `5.1.1` is sent for a blocklisted sender by some servers.
2. A precise RFC 3463 status (X.1.1 user unknown, X.2.2 mailbox full, …).
3. What is left: `expired` for a delayed or expired action, `onhold` when the
   server wrote something nobody can read a reason from, `undefined` when it
   wrote nothing.

A "no such user" answered to DATA rather than RCPT is `filtered`: the address
was accepted a moment before, so a rule of the recipient's refused the message.
"""

import re

from rundbrief.bounces import phrases

# RFC 3463 subject.detail → reason; the class (4 or 5) does not change the reason, only the urgency.
STATUS_REASONS = {
    "1.0": "userunknown",  # other address status: the address, not the message
    "1.1": "userunknown",
    "1.2": "hostunknown",
    "1.3": "userunknown",  # bad destination mailbox address syntax
    "1.4": "userunknown",  # ambiguous destination mailbox
    "1.6": "hasmoved",
    "1.7": "rejected",  # bad sender mailbox syntax
    "1.8": "rejected",  # bad sender system address
    "1.10": "notaccept",  # RFC 7505 null MX (Microsoft uses it for "recipient not found": words win)
    "2.0": "filtered",
    "2.1": "suspend",
    "2.2": "mailboxfull",
    "2.3": "exceedlimit",
    "2.4": "systemerror",  # mailing list expansion problem
    "3.1": "systemfull",
    "3.2": "systemerror",
    "3.3": "systemerror",
    "3.4": "mesgtoobig",
    "3.5": "systemerror",
    "4.0": "networkerror",
    "4.1": "networkerror",  # no answer from host
    "4.2": "networkerror",  # bad connection
    "4.3": "systemerror",  # directory server failure
    "4.4": "hostunknown",  # unable to route
    "4.5": "toomanyconn",  # mail system congestion
    "4.6": "networkerror",  # routing loop
    "4.7": "expired",  # delivery time expired
    "5.0": "syntaxerror",
    "5.1": "syntaxerror",
    "5.2": "syntaxerror",
    "5.3": "toomanyconn",  # too many recipients
    "5.4": "syntaxerror",
    "5.5": "syntaxerror",
    "5.6": "syntaxerror",
    "6.0": "contenterror",
    "6.1": "contenterror",
    "6.2": "contenterror",
    "6.3": "contenterror",
    "6.4": "contenterror",
    "6.5": "contenterror",
    "6.6": "contenterror",
    "6.7": "contenterror",
    "6.8": "contenterror",
    "6.9": "contenterror",
    "6.10": "contenterror",
    "7.0": "securityerror",
    "7.1": "rejected",  # delivery not authorized, message refused: the words usually say more
    "7.2": "filtered",  # mailing list expansion prohibited
    "7.3": "securityerror",
    "7.4": "securityerror",
    "7.5": "securityerror",
    "7.6": "securityerror",
    "7.7": "securityerror",
    "7.8": "securityerror",
    "7.9": "securityerror",
    "7.10": "securityerror",
    "7.11": "securityerror",
    "7.13": "suspend",  # user account disabled (RFC 4954)
    "7.15": "policyviolation",
    "7.16": "mesgtoobig",
    "7.17": "hasmoved",  # mailbox owner has changed (RFC 7293)
    "7.18": "hasmoved",  # domain owner has changed (RFC 7293)
    "7.20": "securityerror",  # no passing DKIM signature (RFC 7372)
    "7.21": "securityerror",
    "7.22": "securityerror",
    "7.23": "securityerror",  # SPF validation failed
    "7.24": "securityerror",
    "7.25": "blocked",  # reverse DNS validation failed
    "7.26": "policyviolation",  # multiple authentication checks failed (Gmail: DMARC)
    "7.27": "rejected",  # sender address has null MX (RFC 7505)
    "7.28": "blocked",  # mail flood detected (RFC 8689 era registry)
    "7.509": "policyviolation",  # Microsoft: sender domain fails DMARC
    "7.515": "securityerror",  # Microsoft: sending domain does not meet the authentication level
    "7.606": "blocked",  # Microsoft: banned sending IP
    "7.708": "blocked",  # Microsoft: traffic not accepted from this IP
}


def _compile(table):
    parts = []
    for phrase in table:
        parts.append(phrase.pattern if isinstance(phrase, re.Pattern) else re.escape(phrase))
    return re.compile("|".join(parts))


_ORDER = tuple((reason, _compile(table)) for reason, table in phrases.ORDER)
_VACATION = _compile(phrases.VACATION)
_CERTAIN = _compile(phrases.USERUNKNOWN_CERTAIN)
_SPACE = re.compile(r"\s+")
_DATA_PHASE = re.compile(r"(?:in reply to|after) (?:end of )?data\b|>>> data\b")


def fold(text: str) -> str:
    return _SPACE.sub(" ", text or "").strip().lower()


def by_words(text: str) -> str | None:
    """The first reason whose phrase occurs in the (folded) text."""
    for reason, pattern in _ORDER:
        if pattern.search(text):
            return reason
    return None


def by_status(status: str | None) -> str | None:
    """The reason a precise RFC 3463 code names; None for x.0.0 ("other or undefined") or no code."""
    if not status or status.endswith(".0.0"):
        return None
    subject_detail = status.partition(".")[2]
    if subject_detail in STATUS_REASONS:
        return STATUS_REASONS[subject_detail]
    # Providers extend the details (Microsoft's 5.1.351 "unknown recipient"); subject 1 is the address.
    return "userunknown" if subject_detail.startswith("1.") else None


def is_vacation(text: str) -> bool:
    return bool(_VACATION.search(fold(text)))


# Codes that name the mailbox's state precisely; no reworded text overrides them.
DECISIVE = frozenset({"mailboxfull", "mesgtoobig", "hasmoved"})
# Commands that show the rejection was about the address itself (RFC 5321 §3.3: RCPT names the mailbox).
ADDRESS_COMMANDS = frozenset({"RCPT", "MAIL"})


def judge(diagnosis: str, status: str | None, action: str = "failed", command: str = "") -> str:
    text = fold(diagnosis)
    coded = by_status(status)
    if coded in DECISIVE:
        return coded
    if _CERTAIN.search(text):
        return "userunknown"
    worded = by_words(text)
    if command == "MAIL" and worded in (None, "userunknown", "hostunknown", "filtered", "notaccept"):
        return "rejected"  # refused at MAIL FROM: our envelope sender, not the reader's address
    if command == "CONNECT" and worded is None:
        return "blocked"  # refused before any address was named: our IP or host name
    if worded is None and action.startswith(("delayed", "expired")):
        return "expired"  # a delay report names the state of the queue, whatever the last attempt's code
    if worded == "userunknown" or (worded is None and coded == "userunknown"):
        # "No such user" is trusted when the server gave X.1.1 or refused the RCPT command; the same
        # words after DATA or without any code are also what content filters say ("550 unknown user"
        # from a filter that rejects the message), so they count as the recipient's filter, not as a
        # vanished address.
        if command == "DATA" or _DATA_PHASE.search(text):
            return "filtered"
        if coded == "userunknown" or command in ADDRESS_COMMANDS:
            return "userunknown"
        return "filtered" if coded in (None, "filtered") else "userunknown"
    reason = worded or coded
    if reason:
        return reason
    if action.startswith(("delayed", "expired")):
        return "expired"
    return "onhold" if text else "undefined"
