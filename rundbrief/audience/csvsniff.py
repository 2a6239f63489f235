"""Reading a stranger's CSV: its encoding, its delimiter and its header, before any row is imported.

Exports arrive as UTF-8 (with or without a byte-order mark, as Excel's "CSV UTF-8" writes it) or as
Windows-1252 (German Excel's plain "CSV", which also separates with `;`); Brevo's import documentation
names exactly these two. The file is decoded once, whole, before the import starts, so an undecodable
byte refuses the file instead of stopping an import half way (docs/integrations.md, "Broken files").
"""

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from rundbrief.audience.import_formats import FORMATS, ColumnMap, email_columns, map_columns

DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
HEADER_BYTES = 1 << 16  # the header row is searched for in this much of the file


class ImportFileError(ValueError):
    """The file cannot be read at all; the message is one line for the operator."""


@dataclass(frozen=True)
class SniffedFile:
    path: Path
    encoding: str  # "utf-8-sig" (reads files with and without a BOM) or "cp1252"
    delimiter: str
    columns: ColumnMap


def detect_encoding(path: Path) -> str:
    """ "utf-8-sig" if the whole file is UTF-8, else "cp1252" if it is Windows-1252; ImportFileError otherwise."""
    try:
        if _decodes(path, "utf-8"):
            return "utf-8-sig"
        if _decodes(path, "cp1252"):
            return "cp1252"
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    raise ImportFileError(f"{path}: neither UTF-8 nor Windows-1252 text (save it as CSV UTF-8)")


def _decodes(path, encoding):
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            # A NUL byte is no text a spreadsheet writes: a workbook (.xlsx is a ZIP) or another binary file.
            if b"\0" in block:
                raise ImportFileError(
                    f"{path}: not a CSV file (binary content; an Excel workbook must be saved as CSV)"
                )
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _header_with(text, delimiter):
    try:
        return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    except csv.Error:
        return []


def sniff(path, format_name="rundbrief") -> SniffedFile:
    """Encoding, delimiter and the ColumnMap of the header row in the named format, or ImportFileError
    saying which columns were found and which delimiter was assumed."""
    path = Path(path)
    fmt = FORMATS.get(format_name)
    if fmt is None:
        raise ImportFileError(f"unknown format {format_name!r} (known: {', '.join(FORMATS)})")
    encoding = detect_encoding(path)
    with open(path, encoding=encoding, newline="") as fh:
        text = fh.read(HEADER_BYTES)
    if not text.strip():
        raise ImportFileError(f"{path}: the file is empty (a header row naming the columns is needed)")
    headers = {d: _header_with(text, d) for d in DELIMITERS}
    # The delimiter is the one whose header names an address column: a `;` file read with `,` has one
    # long column whose name is the whole header row.
    for delimiter in DELIMITERS:
        columns = map_columns(fmt, headers[delimiter])
        if columns is not None:
            return SniffedFile(path, encoding, delimiter, columns)
    assumed = max(DELIMITERS, key=lambda d: len(headers[d]))
    found = ", ".join(repr(name[:40]) for name in headers[assumed][:12]) or "none"
    message = (
        f"{path}: no {' or '.join(f'`{name}`' for name in email_columns(fmt))} column for --format {fmt.name}; "
        f"columns found: {found}, read with the delimiter {DELIMITER_NAMES[assumed]} ({encoding_name(encoding)})"
    )
    hint = [name for name, other in FORMATS.items() if name != fmt.name and map_columns(other, headers[assumed])]
    if hint:
        message += f"; it reads as --format {hint[0]}"
    raise ImportFileError(message)


def encoding_name(encoding):
    return {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252"}.get(encoding, encoding)
