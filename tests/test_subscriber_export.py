"""`rundbrief export-subscribers` and the admin's CSV download: the importer's format, consent evidence kept,
withdrawn people never subscribed again by a re-import, a file complete or absent, memory flat."""

import csv
import io
import json
import os
import stat
import subprocess
import sys
import tracemalloc

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rundbrief.audience import actions, listexport
from rundbrief.audience.csvcells import from_spreadsheet_safe
from rundbrief.audience.importer import import_subscribers
from rundbrief.audience.models import ConsentText, Subscriber, Subscription, Suppression
from rundbrief.ops.logs import parse_lines
from tests.support.postgres import ROOT
from tests.support.readers import reader

IMPORT_HEADER = "email,topics,consented_at,confirmed_at,source,ip,consent_text_version\n"
# In the fresh database: the same topics and consent texts as here (a new install plus the merchant's
# second German text), then the import, the export and what the import left, as JSON on the last line.
IMPORT_INTO_FRESH = """
import json, sys
from django.core.management import call_command
from rundbrief.audience.models import ConsentEvent, ConsentText, Subscriber
from rundbrief.newsroom.models import Topic
for i, slug in enumerate(["produktneuheiten", "finanznachrichten", "sonderangebote"]):
    Topic.objects.create(name=slug.title(), slug=slug, menu_position=i)
ConsentText.objects.create(language="de", text="Zweite Fassung der Einwilligung.")
call_command("import-subscribers", "{export}", "--consent-basis", "Umzug: Altbestand ohne Einwilligungszeit")
call_command("export-subscribers", "{again}")
people = {{}}
for s in Subscriber.objects.all():
    event = ConsentEvent.objects.get(subscriber=s)
    text = event.consent_text
    people[s.email] = {{"status": s.status, "language": s.language,
        "topics": sorted(s.subscriptions.values_list("topic__slug", flat=True)),
        "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else "",
        "kind": event.kind, "source": event.source, "ip": getattr(event, "evidence", None) and event.evidence.ip or "",
        "text": f"{{text.language}}:{{text.version}}" if text else ""}}
print(json.dumps(people))
"""


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text, newline="")))


def export(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("export-subscribers", "-", *args, stdout=out, stderr=err)
    return read_csv(out.getvalue()), err.getvalue().strip()


def csv_of(subscribers):
    return "".join(listexport.csv_lines(listexport.active_rows(subscribers, listexport.ExportCounts())))


def by_email(rows):
    return {row["email"]: row for row in rows}


@pytest.fixture
def second_text(db):
    return ConsentText.objects.create(language="de", text="Zweite Fassung der Einwilligung.")


@pytest.fixture
def audience(topics, second_text, tmp_path):
    """Sign-ups through the real actions, an import with given evidence, and those who must not come back."""
    reader("anna@example.de")  # confirmed, IP 203.0.113.77 (stored as 203.0.113.0)
    reader("bernd@example.de", confirm=False, ip="2001:db8:abcd:12::1")
    reader("clara@example.de", withdraw=True)
    actions.erase_subscriber(reader("dora@example.de"), source="test")
    reader("emil@example.de")
    actions.suppress_address("emil@example.de", reason=Suppression.Reason.BOUNCED)  # stays "confirmed"
    # Withdrew, then asked again: pending, with the old confirmation still on the row.
    frieda = reader("frieda@example.de", withdraw=True)
    actions.request_subscription(
        frieda.email, consent_text=ConsentText.current("de"), source="https://shop.example/konto/"
    )
    reader("ohne.themen@example.de")
    Subscription.objects.filter(subscriber__email="ohne.themen@example.de").delete()
    rows = [
        "gustav@example.de,finanznachrichten|sonderangebote,2024-03-01T09:30:00+01:00,2024-03-01T09:41:00+01:00,"
        '"Messe München, Halle 3",198.51.100.23,de:2',
        'hanna@example.de,sonderangebote,2024-05-02T10:00:00+02:00,,"Shop ""Gold"" Aktion",,de:1',
        "ida@example.de,produktneuheiten,,2024-06-01T12:00:00+00:00,,,",
        "juergen@müller.de,,2024-07-01T08:00:00+00:00,2024-07-01T08:05:00+00:00,Newsletter-Box,2001:db8:1:2::5,en:1",
        "o'brien+news@example.de,produktneuheiten,,,,,",
    ]
    path = tmp_path / "kunden.csv"
    path.write_text(IMPORT_HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    import_subscribers(path, consent_basis="Altbestand aus dem Shop")
    return path


ACTIVE = {
    "anna@example.de",
    "bernd@example.de",
    "frieda@example.de",
    "gustav@example.de",
    "hanna@example.de",
    "ida@example.de",
    "juergen@müller.de",
    "o'brien+news@example.de",
}


def test_the_export_has_the_importers_columns_filled_from_the_ledger_and_its_evidence(audience):
    rows, summary = export()
    assert list(rows[0]) == list(listexport.COLUMNS)
    people = by_email(rows)
    assert set(people) == ACTIVE
    anna = Subscriber.objects.get(email="anna@example.de")
    assert people["anna@example.de"] == {
        "email": "anna@example.de",
        "topics": "finanznachrichten|produktneuheiten|sonderangebote",
        "consented_at": anna.requested_at.isoformat(),
        "confirmed_at": anna.confirmed_at.isoformat(),
        "source": "test",
        "ip": "203.0.113.0",
        "consent_text_version": "de:2",
        "status": "confirmed",
        "language": "de",
        "requested_at": anna.requested_at.isoformat(),
    }
    assert people["bernd@example.de"]["ip"] == "2001:db8:abcd::"  # stored truncated (/48), exported as stored
    assert people["bernd@example.de"]["confirmed_at"] == ""
    # An import's given evidence, taken out of the `imported` event's source: not `import:kunden.csv:2 …`.
    assert {
        k: people["gustav@example.de"][k]
        for k in ["consented_at", "confirmed_at", "source", "ip", "consent_text_version"]
    } == {
        "consented_at": "2024-03-01T08:30:00+00:00",
        "confirmed_at": "2024-03-01T08:41:00+00:00",
        "source": "Messe München, Halle 3",
        "ip": "198.51.100.0",
        "consent_text_version": "de:2",
    }
    assert people["hanna@example.de"]["source"] == 'Shop "Gold" Aktion'
    assert people["hanna@example.de"]["consented_at"] == "2024-05-02T08:00:00+00:00"
    # Neither source nor consent time given: none exported (the ledger here keeps `import:kunden.csv:4`).
    assert people["ida@example.de"]["source"] == "" and people["ida@example.de"]["consented_at"] == ""
    assert (
        people["juergen@müller.de"]["consent_text_version"] == "en:1"
        and people["juergen@müller.de"]["language"] == "en"
    )
    assert (
        summary
        == "exported: 8 subscribers (4 confirmed, 4 pending) to stdout; left out: 1 suppressed, 1 without topics"
    )


def test_a_pending_person_who_once_confirmed_is_exported_without_the_old_confirmation(audience):
    """Frieda withdrew and asked again; her row still holds the first confirmed_at, which would import her as confirmed."""
    assert Subscriber.objects.get(email="frieda@example.de").confirmed_at is not None
    frieda = by_email(export()[0])["frieda@example.de"]
    assert frieda["status"] == "pending" and frieda["confirmed_at"] == ""
    assert frieda["source"] == "https://shop.example/konto/"  # the latest request, not the first


def test_export_imported_into_a_fresh_database_brings_back_every_active_person_and_exports_the_same(audience, tmp_path):
    first = tmp_path / "liste.csv"
    call_command("export-subscribers", str(first), stdout=io.StringIO())
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{tmp_path / 'neu.sqlite3'}",
        RUNDBRIEF_VAR_DIR=str(tmp_path),
        RUNDBRIEF_LOG_LEVEL="WARNING",
    )
    env.pop("RUNDBRIEF_HASH_KEY", None)
    for args in (
        ["migrate", "--verbosity", "0"],
        ["shell", "-c", IMPORT_INTO_FRESH.format(export=first, again=tmp_path / "wieder.csv")],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "rundbrief", *args], env=env, cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr[-3000:]
    there = json.loads(result.stdout.splitlines()[-1])
    exported = by_email(read_csv(first.read_text(encoding="utf-8")))
    assert set(there) == ACTIVE  # no withdrawn, erased, suppressed or topic-less person came back
    for email, row in exported.items():
        person = there[email]
        assert person["status"] == row["status"] and person["language"] == row["language"], email
        assert person["topics"] == row["topics"].split("|"), email
        assert person["text"] == row["consent_text_version"], email
        assert person["confirmed_at"] == row["confirmed_at"], email
        assert person["kind"] == "imported" and person["ip"] == row["ip"], email
        assert person["source"].startswith("import:liste.csv:"), email
        assert f" source={row['source']}" in person["source"] if row["source"] else " source=" not in person["source"]
    # Stable: the second export has the same person columns; requested_at too, except for pending people,
    # whom an import requests anew (so they are purged after RUNDBRIEF_UNCONFIRMED_DAYS like any request).
    again = by_email(read_csv((tmp_path / "wieder.csv").read_text(encoding="utf-8")))
    for email, row in exported.items():
        if row["status"] == "pending":
            row, again[email] = dict(row, requested_at=""), dict(again[email], requested_at="")
        assert again[email] == row


def test_withdrawn_people_are_never_in_an_active_export_and_their_own_list_is_refused_by_the_importer(
    audience, tmp_path
):
    assert "clara@example.de" not in by_email(export()[0])
    path = tmp_path / "widerrufen.csv"
    out = io.StringIO()
    call_command("export-subscribers", str(path), "--status", "withdrawn", stdout=out)
    assert out.getvalue().strip() == f"exported: 1 withdrawn to {path}"
    rows = read_csv(path.read_text(encoding="utf-8"))
    assert [(r["address"], r["status"]) for r in rows] == [("clara@example.de", "withdrawn")]
    assert "email" not in rows[0] and "confirmed_at" not in rows[0] and "topics" not in rows[0]
    # Even where nobody knows Clara, the importer takes nothing from this file: no `email` column, no rows.
    actions.erase_subscriber(Subscriber.objects.get(email="clara@example.de"))
    Suppression.objects.all().delete()
    with pytest.raises(CommandError, match="no `email` column"):
        call_command("import-subscribers", str(path), stdout=io.StringIO())
    assert not Subscriber.objects.filter(email="clara@example.de").exists()
    assert not path.with_name("widerrufen.rejects.csv").exists()
    nobody = io.StringIO()  # Clara was the only one: an empty withdrawn list still says what it is
    call_command("export-subscribers", str(tmp_path / "leer.csv"), "--status", "withdrawn", stdout=nobody)
    assert nobody.getvalue().strip() == f"exported: 0 withdrawn to {tmp_path / 'leer.csv'}"


def test_the_blocked_list_names_the_withdrawn_and_the_suppressed_and_the_importer_refuses_it(audience, tmp_path):
    """Another system must not mail those who withdrew, nor those who bounced or complained here; a hard
    bounce leaves the subscriber `confirmed`, so only the suppression list knows (it holds keyed hashes)."""
    path = tmp_path / "gesperrt.csv"
    out = io.StringIO()
    call_command("export-subscribers", str(path), "--status", "blocked", stdout=out)
    assert out.getvalue().strip() == f"exported: 1 withdrawn and 1 suppressed to {path}"
    rows = read_csv(path.read_text(encoding="utf-8"))
    assert list(rows[0]) == list(listexport.WITHDRAWN_COLUMNS)
    assert sorted((r["address"], r["status"]) for r in rows) == [
        ("clara@example.de", "withdrawn"),
        ("emil@example.de", "suppressed:bounced"),
    ]
    with pytest.raises(CommandError, match="no `email` column"):
        call_command("import-subscribers", str(path), stdout=io.StringIO())


def test_status_and_topic_choose_the_rows(audience):
    assert {r["email"] for r in export("--status", "confirmed")[0]} == {
        "anna@example.de",
        "gustav@example.de",
        "ida@example.de",
        "juergen@müller.de",
    }
    assert {r["email"] for r in export("--status", "pending")[0]} == {
        "bernd@example.de",
        "frieda@example.de",
        "hanna@example.de",
        "o'brien+news@example.de",
    }
    sonder = export("--topic", "sonderangebote")[0]
    assert {r["email"] for r in sonder} == {
        "anna@example.de",
        "bernd@example.de",
        "frieda@example.de",
        "gustav@example.de",
        "hanna@example.de",
        "juergen@müller.de",
    }
    # The row still names all the person's topics: the topic filter chooses people, not consent.
    assert by_email(sonder)["gustav@example.de"]["topics"] == "finanznachrichten|sonderangebote"
    with pytest.raises(CommandError, match="unknown topic") as error:
        export("--topic", "edelsteine")
    assert error.value.returncode == 1


def test_the_command_refuses_to_overwrite_a_file(audience, tmp_path, json_log):
    path = tmp_path / "liste.csv"
    path.write_text("wertvoll\n")
    with pytest.raises(CommandError, match="exists; refusing to overwrite") as error:
        call_command("export-subscribers", str(path), stdout=io.StringIO())
    assert error.value.returncode == 1 and path.read_text() == "wertvoll\n"
    # Refused before anything was read: the log names no export, not even an interrupted one.
    assert "rundbrief.audience.listexport" not in json_log.getvalue()
    with pytest.raises(CommandError, match="no such directory"):
        call_command("export-subscribers", str(tmp_path / "fehlt" / "liste.csv"), stdout=io.StringIO())
    assert "rundbrief.audience.listexport" not in json_log.getvalue()


def test_a_place_that_takes_no_file_is_one_clear_line_not_a_traceback(audience):
    # /proc takes no new files, not even from root (for whom permission bits are no test).
    with pytest.raises(CommandError, match=r"cannot write /proc/liste\.csv: ") as error:
        call_command("export-subscribers", "/proc/liste.csv", stdout=io.StringIO())
    assert error.value.returncode == 1


def test_the_file_appears_complete_with_mode_0600_or_not_at_all(audience, tmp_path, monkeypatch):
    path = tmp_path / "liste.csv"
    call_command("export-subscribers", str(path), stdout=io.StringIO())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # personal data: owner only
    assert len(read_csv(path.read_text(encoding="utf-8"))) == len(ACTIVE)
    # A failure half-way (here: the database, on the third chunk of two rows) leaves no FILE and no part file.
    monkeypatch.setattr(listexport, "CHUNK", 2)
    calls = iter(range(100))
    real = listexport._topics_of
    monkeypatch.setattr(listexport, "_topics_of", lambda ids: real(ids) if next(calls) < 2 else 1 / 0)
    broken = tmp_path / "halb.csv"
    with pytest.raises(ZeroDivisionError):
        call_command("export-subscribers", str(broken), stdout=io.StringIO())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kunden.csv", "kunden.rejects.csv", "liste.csv"]


def test_the_summary_goes_to_stderr_when_the_csv_goes_to_stdout(audience):
    rows, summary = export()
    assert len(rows) == len(ACTIVE) and summary.startswith("exported: 8 subscribers")


# A sign-up's source is a URL on this site, `api:NAME` or empty; only the importer writes `import:FILE:LINE …`,
# and the export reads those as an import's (docs/cli.md), so they are not a sign-up's here.
sources = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=300).filter(
    lambda s: not listexport.clean_source(s).startswith("import:")
) | st.sampled_from(
    [
        ' ,"\n\r ',
        'Messe, "Gold"\r\nHalle 3',
        "Ümlaut — ☃ — 中文",
        "x consented_at=2024-01-01T00:00:00+00:00",
        "api:shop import:alt.csv:7",
        '=HYPERLINK("x")',
        "a" * 300,
    ]
)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=sources)
def test_any_source_survives_csv_quoting_and_a_re_import_unchanged(topics, tmp_path_factory, source):
    """Commas, quotes, line breaks, non-ASCII: the CSV reads back as written, the importer accepts the row,
    and the re-imported person exports the same source and consent time."""
    address = f"quelle{Subscriber.objects.count()}@example.de"
    actions.request_subscription(address, consent_text=ConsentText.current("de"), source=source)
    (row,) = read_csv(csv_of(Subscriber.objects.filter(email=address)))
    # As written, but for the apostrophe before a would-be formula (audience/csvcells.py).
    assert from_spreadsheet_safe(row["source"]) == listexport.clean_source(source)
    path = tmp_path_factory.mktemp("quelle") / "q.csv"
    new_address = f"wieder{Subscriber.objects.count()}@example.de"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(listexport.COLUMNS))
        writer.writeheader()
        writer.writerow(dict(row, email=new_address))
    summary = import_subscribers(path, consent_basis="Altbestand aus dem Shop")
    assert summary.pending == 1, path.with_name("q.rejects.csv").read_text()
    (again,) = read_csv(csv_of(Subscriber.objects.filter(email=new_address)))
    assert (again["source"], again["consented_at"]) == (row["source"], row["consented_at"])


@pytest.fixture
def staff_viewer(db):
    user = User.objects.create_user("redakteurin", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_subscriber"))
    return user


def admin_export(client, pks):
    return client.post("/admin/audience/subscriber/", {"action": "export_selected_csv", "_selected_action": pks})


def test_the_admin_streams_the_selected_active_subscribers_as_csv(client, staff_viewer, audience):
    client.force_login(staff_viewer)  # the view permission is enough: an export changes nothing
    chosen = Subscriber.objects.filter(email__in=["anna@example.de", "gustav@example.de", "clara@example.de"])
    response = admin_export(client, [s.pk for s in chosen])
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="abonnenten-')
    rows = read_csv(b"".join(response.streaming_content).decode("utf-8"))
    assert {r["email"] for r in rows} == {"anna@example.de", "gustav@example.de"}  # Clara withdrew: left out
    assert rows == [r for r in export()[0] if r["email"] in {"anna@example.de", "gustav@example.de"}]


def test_the_admin_offers_the_export_in_german(admin_client, audience):
    page = admin_client.get("/admin/audience/subscriber/").content.decode()
    assert "Ausgewählte als CSV exportieren (Widerrufene werden ausgelassen)" in page


def test_the_admin_export_is_refused_to_non_staff_and_to_staff_without_the_view_permission(client, audience):
    pks = list(Subscriber.objects.values_list("pk", flat=True))
    outsider = User.objects.create_user("kundin", password="pw")
    client.force_login(outsider)
    response = admin_export(client, pks)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    no_permission = User.objects.create_user("praktikant", password="pw", is_staff=True)
    client.force_login(no_permission)
    response = admin_export(client, pks)
    assert response.status_code == 403 and not getattr(response, "streaming", False)


def test_every_export_is_logged_with_who_and_how_many_but_no_address(audience, admin_client, json_log, tmp_path):
    call_command("export-subscribers", str(tmp_path / "liste.csv"), "--topic", "sonderangebote", stdout=io.StringIO())
    response = admin_export(admin_client, list(Subscriber.objects.values_list("pk", flat=True)))
    b"".join(response.streaming_content)
    text = json_log.getvalue()
    events = [e for e in parse_lines(text) if e["logger"] == "rundbrief.audience.listexport"]
    assert [(e["event"], e["target"], e["rows"], e["topic"]) for e in events] == [
        ("subscriber list exported", str(tmp_path / "liste.csv"), 6, "sonderangebote"),
        ("subscriber list exported", "download", 8, ""),
    ]
    assert events[0]["actor"].startswith("cli:") and events[1]["actor"] == "admin:admin"
    assert "@" not in "".join(json.dumps(e) for e in events)


def _build(count):
    Subscriber.objects.bulk_create(
        [
            Subscriber(email=f"leser{i}@example.de", status="confirmed", confirmed_at=timezone.now())
            for i in range(count)
        ]
    )


def test_the_export_reads_in_chunks_with_a_fixed_number_of_queries_each(
    topics, monkeypatch, django_assert_max_num_queries
):
    """Not one query per subscriber: subscribers, topics, consent events (evidence and text joined) and
    suppressions, once per chunk."""
    _build(50)
    Subscription.objects.bulk_create(
        [Subscription(subscriber=s, topic=topics["sonderangebote"]) for s in Subscriber.objects.all()]
    )
    monkeypatch.setattr(listexport, "CHUNK", 10)
    counts = listexport.ExportCounts()
    with django_assert_max_num_queries(6 * 4):  # 5 full chunks and the empty read that ends the loop
        assert sum(1 for _ in listexport.active_rows(Subscriber.objects.all(), counts)) == 51
    assert counts.confirmed == 50


def _peak_export_memory(path):
    import_subscribers(path, consent_basis="Altbestand aus dem Shop")
    tracemalloc.start()
    try:
        for _ in listexport.csv_lines(listexport.active_rows(Subscriber.objects.all(), listexport.ExportCounts())):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_list(topics, tmp_path):
    """Ten times the subscribers, about the same peak: one chunk is held at a time."""

    def write(name, start, count):
        path = tmp_path / name
        path.write_text(
            IMPORT_HEADER
            + "".join(
                f"p{i}@example.de,sonderangebote,2024-03-01T09:30:00,2024-03-01T09:41:00,Messe,203.0.113.9,de:1\n"
                for i in range(start, start + count)
            )
        )
        return path

    # The small list is already several chunks: the peak rises from one chunk to two (the next chunk is
    # read while the last one's rows are still referenced) and is level from there (measured: 3.6 MB at
    # 2,500 rows, 4.9 at 5,000, 5.1-5.3 from 10,000 to 50,000). Comparing 2,500 with 25,000 against 1.5x
    # failed on PostgreSQL with nothing held. Keeping just the subscriber rows read (a deliberate bug)
    # made the peak 2.4 times higher at 25,000 rows and 4.1 times at 50,000.
    small = _peak_export_memory(write("small.csv", 0, 5_000))
    Subscriber.objects.all().delete()
    large = _peak_export_memory(write("large.csv", 10_000, 50_000))
    assert large < small * 2, (small, large)
