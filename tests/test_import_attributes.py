"""An import fills typed subscriber attributes from columns named like their keys (case aside)."""

import io

import pytest
from django.core.management import call_command

from rundbrief.audience.attributes import define_attribute
from rundbrief.audience.importer import preview
from rundbrief.audience.models import Subscriber
from rundbrief.audience.segments import save_segment, segment_count

pytestmark = pytest.mark.django_db

HEADER = "email;consented_at;confirmed_at;Kundennummer;UMSATZ;Stammkunde;Lieblingsfarbe\n"


@pytest.fixture
def attributes(topics):
    define_attribute(key="kundennummer", label="Kundennummer", type="text")
    define_attribute(key="umsatz", label="Umsatz", type="number")
    define_attribute(key="stammkunde", label="Stammkunde", type="boolean")


def write(tmp_path, *rows):
    path = tmp_path / "kunden.csv"
    path.write_text(HEADER + "".join(rows), encoding="cp1252")
    return path


def test_columns_named_like_attributes_fill_them_typed_and_a_bad_value_rejects_the_row(tmp_path, attributes):
    t = "2025-03-01T09:30:00+01:00"
    path = write(
        tmp_path,
        f"anna@example.de;{t};{t};K-1001;1250,50;ja;grün\n",
        f"bernd@example.de;{t};{t};K-1002;0;nein;\n",
        f"carla@example.de;{t};{t};K-1003;viel;ja;\n",
    )
    call_command("import-subscribers", str(path), stdout=io.StringIO())
    anna, bernd = (Subscriber.objects.get(email=e) for e in ("anna@example.de", "bernd@example.de"))
    assert anna.attributes == {"kundennummer": "K-1001", "umsatz": 1250.5, "stammkunde": True}
    assert bernd.attributes == {"kundennummer": "K-1002", "umsatz": 0, "stammkunde": False}  # 0 and no are kept
    assert not Subscriber.objects.filter(email="carla@example.de").exists()
    rejects = (tmp_path / "kunden.rejects.csv").read_text(encoding="utf-8")
    assert "carla@example.de" in rejects and "umsatz" in rejects
    # The imported values take part in segments at once.
    rule = {"field": "attribute", "attribute": "umsatz", "operator": "gt", "value": "100"}
    assert segment_count(save_segment(name="Große Kunden", match="all", rules=[rule])) == 1


def test_the_preview_names_the_attribute_columns_and_leaves_the_rest_not_imported(tmp_path, attributes):
    t = "2025-03-01T09:30:00+01:00"
    shown = preview(write(tmp_path, f"anna@example.de;{t};{t};K-1001;12;ja;grün\n"))
    assert shown.attributes == [("Kundennummer", "kundennummer"), ("UMSATZ", "umsatz"), ("Stammkunde", "stammkunde")]
    assert shown.not_imported == ["Lieblingsfarbe"]
    assert shown.rows[0].extra == {"Lieblingsfarbe": "grün"} and shown.rows[0].outcome == "confirmed"
