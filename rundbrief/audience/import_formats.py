"""The export formats `import-subscribers --format` reads, each a mapping of its columns to ours.

A format is data, worked out once per file into a ColumnMap (which column holds which field, which
columns are not imported), so the per-row path in import_rows.RowParser does no name look-ups or format
dispatch. The column lists come from each tool's published export and import documentation; the
sources are cited in docs/integrations.md, "Imports from other tools", which also has the tables.

Fields (`FIELDS`) are the rundbrief format's columns plus what other tools export:
`confirm_ip` (the IP of the double-opt-in confirmation), `language`, `status` (a tool's member
state: active, pending, or a reason to suppress) and `suppress_time` (when they unsubscribed or
bounced; kept in the ledger's source text).
"""

from dataclasses import dataclass, field

from rundbrief.audience.models import Suppression

FIELDS = (
    "email",
    "topics",
    "consented_at",
    "confirmed_at",
    "source",
    "ip",
    "consent_text_version",
    "confirm_ip",
    "language",
    "status",
    "suppress_time",
)
RUNDBRIEF_COLUMNS = FIELDS[:7]

# What a status value means: "" an active (or pending) member, else the suppression reason.
UNSUBSCRIBED = Suppression.Reason.UNSUBSCRIBED
BOUNCED = Suppression.Reason.BOUNCED
COMPLAINED = Suppression.Reason.COMPLAINED
ACTIVE = ""


@dataclass(frozen=True)
class ImportFormat:
    name: str
    label: str
    columns: dict  # header as the tool writes it, lower case → field
    statuses: dict = field(default_factory=dict)  # status value, lower case → ACTIVE or a reason
    # A whole file of one kind, recognised by a column only that file has (Mailchimp's three files).
    file_kinds: dict = field(default_factory=dict)  # header, lower case → reason
    naive_times_utc: bool = False  # times without an offset: UTC, not TIME_ZONE
    unix_times: bool = False  # seconds since 1970 accepted as times
    source_prefix: str = ""  # "import:mailchimp"; the rundbrief format keeps "import"


RUNDBRIEF = ImportFormat("rundbrief", "Rundbrief", {name: name for name in RUNDBRIEF_COLUMNS})

# Mailchimp's audience export: a ZIP of three CSVs, subscribed, unsubscribed and cleaned members, with
# merge fields first and then its system columns. Times are written in UTC ("2024-03-01 08:30:00").
MAILCHIMP = ImportFormat(
    "mailchimp",
    "Mailchimp",
    {
        "email address": "email",
        "optin_time": "consented_at",
        "optin_ip": "ip",
        "confirm_time": "confirmed_at",
        "confirm_ip": "confirm_ip",
        "language": "language",
        "unsub_time": "suppress_time",
        "clean_time": "suppress_time",
    },
    file_kinds={"unsub_time": UNSUBSCRIBED, "clean_time": BOUNCED},
    naive_times_utc=True,
    source_prefix="import:mailchimp",
)

# CleverReach's recipient export (the fields of its receiver: registered = signed up, activated = the
# double opt-in confirmed, deactivated = unsubscribed; bounced). German column titles as its German UI writes them.
CLEVERREACH = ImportFormat(
    "cleverreach",
    "CleverReach",
    {
        "email": "email",
        "e-mail": "email",
        "registered": "consented_at",
        "registriert": "consented_at",
        "activated": "confirmed_at",
        "aktiviert": "confirmed_at",
        "source": "source",
        "quelle": "source",
        "deactivated": "suppress_time",
        "deaktiviert": "suppress_time",
        "status": "status",
    },
    statuses={
        "active": ACTIVE,
        "aktiv": ACTIVE,
        "inactive": UNSUBSCRIBED,
        "inaktiv": UNSUBSCRIBED,
        "bounced": BOUNCED,
        "bounce": BOUNCED,
    },
    unix_times=True,
    source_prefix="import:cleverreach",
)

# rapidmail's recipient list export: created = the sign-up (time and IP), activated = the confirmation
# (time and IP), status the member's state in the list.
RAPIDMAIL = ImportFormat(
    "rapidmail",
    "rapidmail",
    {
        "email": "email",
        "created": "consented_at",
        "created_ip": "ip",
        "activated": "confirmed_at",
        "activated_ip": "confirm_ip",
        "status": "status",
    },
    statuses={
        "active": ACTIVE,
        "new": ACTIVE,
        "bounced": BOUNCED,
        "abuse": COMPLAINED,
        "deleted": UNSUBSCRIBED,
        "unsubscribed": UNSUBSCRIBED,
    },
    source_prefix="import:rapidmail",
)

# Brevo's contact export: EMAIL, the contact's attributes, ADDED_TIME/MODIFIED_TIME and whether the address is
# blacklisted (unsubscribed from marketing mail). It holds no consent or confirmation time: see docs.
BREVO = ImportFormat(
    "brevo",
    "Brevo",
    {"email": "email", "email_blacklisted": "status", "blacklisted": "status"},
    statuses={
        "": ACTIVE,
        "false": ACTIVE,
        "no": ACTIVE,
        "0": ACTIVE,
        "true": UNSUBSCRIBED,
        "yes": UNSUBSCRIBED,
        "1": UNSUBSCRIBED,
    },
    source_prefix="import:brevo",
)

FORMATS = {f.name: f for f in (RUNDBRIEF, MAILCHIMP, CLEVERREACH, RAPIDMAIL, BREVO)}


@dataclass(frozen=True)
class ColumnMap:
    """One file's header read in one format: worked out once, used for every row."""

    format: ImportFormat
    header: tuple  # the column names as the file writes them
    order: tuple  # per field in FIELDS: its column's index, or None
    extra: tuple  # (index, name) of the columns no field takes: not imported
    file_reason: str  # a reason if the whole file is of suppressed members (Mailchimp's unsubscribed, cleaned)

    @property
    def mapping(self):
        """(column, field) for every mapped column, in the file's order; for the preview and the docs."""
        fields = {index: name for name, index in zip(FIELDS, self.order, strict=True) if index is not None}
        return [(self.header[i], fields[i]) for i in sorted(fields)]


def map_columns(fmt: ImportFormat, header) -> ColumnMap | None:
    """The ColumnMap of `header` in `fmt`, or None if no column holds the address. The first column that
    maps to a field takes it; a repeated one is not imported."""
    found = {}
    taken = set()
    file_reason = ""
    for index, name in enumerate(header):
        key = name.strip().lower()
        target = fmt.columns.get(key)
        if target and target not in found:
            found[target] = index
            taken.add(index)
        file_reason = file_reason or fmt.file_kinds.get(key, "")
    if "email" not in found:
        return None
    order = tuple(found.get(name) for name in FIELDS)
    extra = tuple((i, name) for i, name in enumerate(header) if i not in taken)
    return ColumnMap(fmt, tuple(header), order, extra, file_reason)


def email_columns(fmt: ImportFormat):
    return sorted({name for name, target in fmt.columns.items() if target == "email"})
