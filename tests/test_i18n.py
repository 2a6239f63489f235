"""Every UI string is translated into German, the default language."""

import json
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


def test_the_admins_topic_selector_speaks_german(admin_client):
    """Django 5.2's German catalogue lacks the two-list selector's newer strings ("Choose all %s");
    rundbrief/locale/de/LC_MESSAGES/djangojs.po supplies them, and Django adds it to the admin's
    JavaScript catalogue. Every string the selector's script asks for must come back in German,
    so a string added by a Django update shows up here."""
    import django.contrib.admin

    script = Path(django.contrib.admin.__file__).parent / "static/admin/js/SelectFilter2.js"
    wanted = {match[1] for match in re.findall(r"gettext\((['\"])(.+?)\1\)", script.read_text())}
    assert "Choose all %s" in wanted and len(wanted) > 8
    catalogue = admin_client.get("/admin/jsi18n/").content.decode()
    untranslated = sorted(msgid for msgid in wanted if json.dumps(msgid) not in catalogue)
    assert not untranslated, untranslated
