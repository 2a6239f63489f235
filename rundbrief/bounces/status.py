"""Status codes as the servers wrote them: RFC 3463 enhanced codes and RFC 5321 basic reply codes.

Only what is written counts: a bare `550` becomes `5.0.0` ("other or undefined
status", RFC 3463 §3.1), never a guessed subject from the words — the words are
judged separately (bounces/judge.py), and a status that was invented from them
would make them count twice.
"""

import re

# RFC 3463 §3.1: class.subject.detail; subject and detail have at most three digits. Class 2 is success
# and appears in bounces only as noise (version numbers), so it is not read from free text.
ENHANCED = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
# A basic reply code (RFC 5321 §4.2) at the start of a reply line or after a colon/"said:".
# Only the codes that mean a failure (421, 450-454, 550-554), so port numbers and years do not match.
BASIC = re.compile(r"(?:^|[\s:;(\"'#\[])(421|45[0-4]|55[0-4])(?:[ :-]|$)", re.M)


def find_enhanced(text: str) -> str | None:
    """The first RFC 3463 enhanced status code in text, or None."""
    match = ENHANCED.search(text or "")
    return ".".join(match.groups()) if match else None


def find_basic(text: str) -> str | None:
    match = BASIC.search(text or "")
    return match.group(1) if match else None


def status_from_text(text: str, default_class: str | None = None) -> str | None:
    """The enhanced code in a free-text reply; else x.0.0 for its basic code's class or default_class."""
    enhanced = find_enhanced(text)
    if enhanced:
        return enhanced
    basic = find_basic(text)
    klass = basic[0] if basic else default_class
    return f"{klass}.0.0" if klass else None


def refine(status: str | None, diagnostic: str) -> str | None:
    """A DSN's Status may be a vague x.0.0 while its Diagnostic-Code has the precise code (Outlook, Gmail)."""
    precise = find_enhanced(diagnostic)
    if status and precise and precise != status and precise[0] == status[0]:
        vague = status.endswith(".0.0") or precise.startswith(status.rsplit(".", 1)[0] + ".")
        if vague:
            return precise
    return status or precise
