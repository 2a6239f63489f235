"""Files with personal data are the owner's only and never written through a planted symlink; CSV
cells never start a spreadsheet formula (OWASP CSV injection), and the export still imports unchanged."""

import csv
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from rundbrief.audience.csvcells import from_spreadsheet_safe, spreadsheet_safe
from rundbrief.audience.models import Subscriber

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value", ['=HYPERLINK("https://evil.example")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_that_a_spreadsheet_would_run_gets_an_apostrophe_and_comes_back_unchanged(value):
    safe = spreadsheet_safe(value)
    assert safe == "'" + value and from_spreadsheet_safe(safe) == value


def test_ordinary_cells_stay_as_they_are():
    for value in ["anna@example.org", "import:liste.csv:2", "2026-12-05T09:00:00+00:00", "'quoted", "", 7]:
        assert spreadsheet_safe(value) == value
    assert from_spreadsheet_safe("'quoted") == "'quoted"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.django_db
def test_the_rejects_file_is_0600_and_its_cells_are_no_formulas(tmp_path, topics):
    source = write(tmp_path / "liste.csv", 'email,topics\n"=HYPERLINK(""https://evil.example"")",finanznachrichten\n')
    call_command("import-subscribers", str(source), "--consent-basis", "Altbestand", stdout=io.StringIO())
    rejects = tmp_path / "liste.rejects.csv"
    assert stat.S_IMODE(rejects.stat().st_mode) == 0o600
    (row,) = list(csv.reader(rejects.open(encoding="utf-8")))[1:]
    assert row[2] == '\'=HYPERLINK("https://evil.example")'


@pytest.mark.django_db
def test_the_import_refuses_to_write_its_rejects_file_through_a_symlink(tmp_path, topics):
    victim = write(tmp_path / "wichtig.txt", "nicht überschreiben\n")
    source = write(tmp_path / "liste.csv", "email,topics\nkaputt,finanznachrichten\n")
    (tmp_path / "liste.rejects.csv").symlink_to(victim)
    with pytest.raises(CommandError, match="is a symbolic link"):
        call_command("import-subscribers", str(source), "--consent-basis", "Altbestand", stdout=io.StringIO())
    assert victim.read_text() == "nicht überschreiben\n" and not Subscriber.objects.exists()


@pytest.mark.django_db
def test_an_exported_address_that_looks_like_a_formula_is_escaped_and_imports_unchanged(tmp_path, topics):
    source = write(
        tmp_path / "alt.csv",
        "email,topics,consented_at,source\n=leser@example.org,finanznachrichten,2026-01-01T10:00:00+01:00,-formular\n",
    )
    call_command("import-subscribers", str(source), "--consent-basis", "Altbestand", stdout=io.StringIO())
    assert Subscriber.objects.filter(email="=leser@example.org").exists()
    exported = tmp_path / "export.csv"
    call_command("export-subscribers", str(exported), stdout=io.StringIO(), stderr=io.StringIO())
    text = exported.read_text(encoding="utf-8")
    assert "'=leser@example.org" in text and "\n=" not in text and ",-formular" not in text
    Subscriber.objects.all().delete()
    call_command("import-subscribers", str(exported), "--consent-basis", "Altbestand", stdout=io.StringIO())
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["=leser@example.org"]


def test_a_new_sqlite_database_is_created_0600(tmp_path):
    database = tmp_path / "neu.sqlite3"
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{database}", RUNDBRIEF_VAR_DIR=str(tmp_path))
    subprocess.run(
        [sys.executable, "-m", "rundbrief", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
