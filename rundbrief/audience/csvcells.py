"""CSV cells a spreadsheet will not run: the exports and the import's rejects file are opened in Excel
or LibreOffice, which treat a cell beginning with = + - @ (or a tab or carriage return) as a formula.
An address or an imported `source` such as `=HYPERLINK("https://evil.example", "click")` would run
on the operator's machine (OWASP, "CSV Injection"). Such a cell is written with a leading apostrophe,
which spreadsheets show as text; the importer takes exactly that apostrophe off again, so an
exported list imports unchanged.
"""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def from_spreadsheet_safe(value: str) -> str:
    if value.startswith("'") and value[1:2] and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value
