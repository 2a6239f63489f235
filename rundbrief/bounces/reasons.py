"""Why a message failed, in the field's vocabulary, and what each reason does to the audience.

The reason words are those of Sisimai, the reference bounce classifier, so that
results can be compared with it and with other tools that adopted them. The
policy follows one rule: **only a reason that says the address is gone
suppresses at once**. A 5xx alone proves nothing — servers answer `550 5.0.0`
or `554 5.7.1` for a blocklisted sending IP, a spam filter, a DMARC failure or a
full mailbox, and suppressing on those would silently drop readers who still
want the newsletter (and write a false reason into their consent ledger).

Pure data and small functions: the `classify` command imports this module
without Django.
"""

from enum import StrEnum


class Reason(StrEnum):
    USERUNKNOWN = "userunknown"  # no such mailbox (RFC 3463 X.1.1)
    HOSTUNKNOWN = "hostunknown"  # no such domain or host (X.1.2)
    HASMOVED = "hasmoved"  # mailbox moved, no forwarding address (X.1.6)
    NOTACCEPT = "notaccept"  # the domain accepts no mail at all (null MX, RFC 7505; X.1.10)
    SUSPEND = "suspend"  # mailbox disabled or suspended (X.2.1)
    MAILBOXFULL = "mailboxfull"  # over quota (X.2.2)
    EXCEEDLIMIT = "exceedlimit"  # message exceeds a per-mailbox limit (X.2.3)
    MESGTOOBIG = "mesgtoobig"  # message exceeds the system's size limit (X.3.4)
    FILTERED = "filtered"  # the recipient's own rules refuse the mail
    REJECTED = "rejected"  # our envelope sender was refused
    BLOCKED = "blocked"  # our sending IP or host was refused (blocklist, rDNS)
    SPAMDETECTED = "spamdetected"  # content judged to be spam
    VIRUSDETECTED = "virusdetected"  # content judged to be malware
    CONTENTERROR = "contenterror"  # malformed headers or body (X.6.x)
    POLICYVIOLATION = "policyviolation"  # a site policy (DMARC, authentication, volume)
    SECURITYERROR = "securityerror"  # authentication or TLS required/failed (X.7.x)
    NORELAYING = "norelaying"  # relaying denied
    EXPIRED = "expired"  # gave up after the queue lifetime (X.4.7)
    NETWORKERROR = "networkerror"  # DNS or routing failure, loop (X.4.x)
    SYSTEMERROR = "systemerror"  # the receiving system failed (X.3.x)
    SYSTEMFULL = "systemfull"  # the receiving system's disk is full (X.3.1)
    MAILERERROR = "mailererror"  # a local delivery program failed
    TOOMANYCONN = "toomanyconn"  # too many connections or messages, rate limited
    SYNTAXERROR = "syntaxerror"  # an SMTP syntax error (X.5.x)
    ONHOLD = "onhold"  # a failure with a text that names no known reason
    UNDEFINED = "undefined"  # a failure with no text at all
    VACATION = "vacation"  # an auto-reply (RFC 3834), not a failure
    FEEDBACK = "feedback"  # a complaint report (RFC 5965 ARF)


class Policy(StrEnum):
    SUPPRESS = "suppress"  # the address is gone: suppress at once
    COUNT = "count"  # temporary or about the mailbox's state: suppress after N within D days
    ALERT = "alert"  # about us, the sender: never suppress, alert the operator
    COMPLAINT = "complaint"  # withdraw consent and suppress (GDPR Art. 7(3), UWG §7)
    IGNORE = "ignore"  # not a bounce


R = Reason
POLICY = {
    # Address-level: waiting will not bring the mailbox back.
    R.USERUNKNOWN: Policy.SUPPRESS,
    R.HOSTUNKNOWN: Policy.SUPPRESS,
    R.HASMOVED: Policy.SUPPRESS,
    R.NOTACCEPT: Policy.SUPPRESS,
    # The mailbox exists but cannot take this message now, or the failure is on the way.
    R.SUSPEND: Policy.COUNT,
    R.MAILBOXFULL: Policy.COUNT,
    R.FILTERED: Policy.COUNT,  # the reader's own filter: repeated refusals end the subscription
    R.EXPIRED: Policy.COUNT,
    R.NETWORKERROR: Policy.COUNT,
    R.SYSTEMERROR: Policy.COUNT,
    R.SYSTEMFULL: Policy.COUNT,
    R.MAILERERROR: Policy.COUNT,
    R.TOOMANYCONN: Policy.COUNT,
    R.MESGTOOBIG: Policy.COUNT,
    R.EXCEEDLIMIT: Policy.COUNT,
    R.SYNTAXERROR: Policy.COUNT,
    R.ONHOLD: Policy.COUNT,
    R.UNDEFINED: Policy.COUNT,
    # About the sender's IP, domain, authentication or content: the reader did nothing.
    R.BLOCKED: Policy.ALERT,
    R.REJECTED: Policy.ALERT,
    R.SPAMDETECTED: Policy.ALERT,
    R.VIRUSDETECTED: Policy.ALERT,
    R.CONTENTERROR: Policy.ALERT,
    R.POLICYVIOLATION: Policy.ALERT,
    R.SECURITYERROR: Policy.ALERT,
    R.NORELAYING: Policy.ALERT,
    R.FEEDBACK: Policy.COMPLAINT,
    R.VACATION: Policy.IGNORE,
}
del R

# The kinds stored on BounceEvent (bounces/models.py) and printed by `bounces classify --json`.
HARD, SOFT, COMPLAINT, SENDER_POLICY = "hard", "soft", "complaint", "sender_policy"
_KIND = {
    Policy.SUPPRESS: HARD,
    Policy.COUNT: SOFT,
    Policy.ALERT: SENDER_POLICY,
    Policy.COMPLAINT: COMPLAINT,
    Policy.IGNORE: None,
}


def policy(reason: str) -> Policy:
    """The policy for a reason word; an unknown word counts as soft, never as a suppression."""
    try:
        return POLICY[Reason(reason)]
    except ValueError:
        return Policy.COUNT


def kind(reason: str) -> str | None:
    """hard, soft, sender_policy, complaint or None (vacation) for a reason word."""
    return _KIND[policy(reason)]


def public_kind(reason: str) -> str | None:
    """The kind in the `classify --json` contract: `hard` exactly for the suppress-at-once reasons.

    A sender-policy rejection is not the address's fault, so it is `soft` there (the
    reference classifier's hard flag is false for it too).
    """
    value = kind(reason)
    return SOFT if value == SENDER_POLICY else value
