"""Log formatting: JSON lines (structlog) or plain text, both scrubbed of addresses and tokens.

`RUNDBRIEF_LOG_FORMAT=json` (recommended in production) writes one JSON object per
line with `timestamp`, `level`, `logger`, `event` and any `extra=` fields such as
`campaign_id` and `delivery_id`; `text` (the default, for `make run`) writes
`LEVEL logger: event key=value`.

Whatever the format, an e-mail address in a log line is replaced by its keyed hash
(`addr:<first 16 hex of HMAC-SHA256>`, the same `subject_hash` the consent ledger
uses) and signed link tokens, API tokens and bearer credentials by `[redacted]`:
log files are copied, shipped and kept longer than the data they describe
(GDPR Art. 5(1)(c) data minimisation, Art. 32 security of processing).
"""

import datetime as dt
import json
import re

import structlog

# \w: letters of any script too, so internationalised domains (bücher.de) and local parts are caught.
ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
SECRETS = [
    # Mailed links: /newsletter/bestaetigen/<token>/, /u/<token>, /p/<token>, /d/<token> (audience/urls.py).
    (re.compile(r"(/(?:u|p|d|newsletter/bestaetigen)/)[A-Za-z0-9_\-:]{10,300}"), r"\1[redacted]"),
    # django.core.signing output anywhere else: base64 parts joined by ":".
    (re.compile(r"\b[A-Za-z0-9_\-]{4,}(?::[A-Za-z0-9_\-]{4,}){1,3}:[A-Za-z0-9_\-]{20,}"), "[redacted]"),
    (re.compile(r"\brb_[A-Za-z0-9_\-]{16,}"), "rb_[redacted]"),  # API tokens (api/auth.py)
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1[redacted]"),
    (re.compile(r"(?i)((?:smtps?|smtp\+starttls|postgres(?:ql)?|imaps?)://[^:/@\s]*:)[^@\s]+@"), r"\1[redacted]@"),
]
STANDARD_FIELDS = {"timestamp", "level", "logger", "event", "exception"}


def _address_hash(match) -> str:
    try:  # the audience app is importable only once Django's app registry is ready
        from rundbrief.audience.addresses import subject_hash  # lazy: logging is configured before the apps

        return "addr:" + subject_hash(match.group(0).lower())[:16]
    except Exception:
        return "addr:[redacted]"


def scrub(text: str) -> str:
    """The text with addresses replaced by their keyed hash and tokens removed."""
    for pattern, replacement in SECRETS:  # first: a URL's password must not pass for an address
        text = pattern.sub(replacement, text)
    return ADDRESS.sub(_address_hash, text)


DROPPED_EXTRAS = {"request", "server_time"}  # Django's extras: the request object repeats the path


def scrub_event(logger, method_name, event_dict):
    """structlog processor: scrub every value (non-JSON values are turned into text first)."""
    for key in DROPPED_EXTRAS & event_dict.keys():
        del event_dict[key]
    for key, value in list(event_dict.items()):
        if key.startswith("_"):
            continue
        if isinstance(value, (bool, int, float)) or value is None:
            continue
        event_dict[key] = scrub(value if isinstance(value, str) else str(value))
    return event_dict


def render_text(logger, method_name, event_dict) -> str:
    head = f"{event_dict.get('level', '').upper()} {event_dict.get('logger', '')}: {event_dict.get('event', '')}"
    extras = " ".join(f"{k}={v}" for k, v in event_dict.items() if k not in STANDARD_FIELDS)
    line = f"{head} {extras}" if extras else head
    if event_dict.get("exception"):
        line += "\n" + event_dict["exception"]
    return line


def _timestamp(logger, method_name, event_dict):
    event_dict["timestamp"] = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    return event_dict


PRE_CHAIN = [
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    _timestamp,
]


def make_formatter(log_format="text"):
    """The `()` factory named in settings.LOGGING."""
    renderer = structlog.processors.JSONRenderer(default=str) if log_format == "json" else render_text
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=PRE_CHAIN,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            scrub_event,
            renderer,
        ],
    )


def configure_structlog():
    """structlog.get_logger() in our code goes through the standard library, hence the same handlers."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            _timestamp,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def parse_lines(text: str) -> list[dict]:
    """JSON log lines back into dicts (for tests and tooling); other lines are skipped."""
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines
