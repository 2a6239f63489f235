"""Every UI string is translated into German, the default language."""

import re
from pathlib import Path

PO = Path(__file__).resolve().parent.parent / "rundbrief/locale/de/LC_MESSAGES/django.po"


def entries(text):
    for block in text.split("\n\n"):
        if "msgid" not in block or 'msgid ""\nmsgstr ""\n"Project-Id-Version' in block:
            continue
        yield block


def test_german_catalogue_has_no_untranslated_or_fuzzy_entries():
    problems = []
    for block in entries(PO.read_text()):
        if "#, fuzzy" in block:
            problems.append(block)
        elif re.search(r'^msgstr(\[\d\])? ""$(?!\n")', block, re.M):
            problems.append(block)
    assert not problems, "\n\n".join(problems)


def test_compiled_german_catalogue_is_checked_in():
    mo = PO.with_suffix(".mo")
    assert mo.exists() and mo.stat().st_size > 1000
