"""Imports from other tools: Mailchimp, CleverReach, rapidmail and Brevo exports, German Excel files,
consent evidence in the ledger, suppression of members who left, and broken files."""

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rundbrief.audience import ledger
from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.import_formats import FORMATS
from rundbrief.audience.importer import ImportFileError, import_files
from rundbrief.audience.models import ConsentEvent, Subscriber, Suppression

FIXTURES = Path(__file__).parent / "fixtures" / "imports"


@pytest.fixture
def exports(tmp_path):
    """The fixture exports, copied where their rejects files may be written."""

    def copy(*names):
        for name in names:
            shutil.copy(FIXTURES / name, tmp_path / name)
        return [str(tmp_path / name) for name in names]

    return copy


def run(*args):
    out = io.StringIO()
    call_command("import-subscribers", *args, stdout=out)
    return out.getvalue().strip()


def rejects_of(path):
    path = Path(path)
    with open(path.with_name(path.stem + ".rejects.csv"), encoding="utf-8", newline="") as fh:
        return {row["line"]: row["reason"] for row in csv.DictReader(fh)}


def events_of(address):
    return list(ConsentEvent.objects.filter(subject_hash=subject_hash(address)).order_by("id"))


def suppression_of(address):
    return Suppression.objects.filter(address_hash=subject_hash(address)).values_list("reason", flat=True).first()


def test_mailchimp_subscribed_unsubscribed_and_cleaned_in_one_call(exports, topics):
    subscribed, unsubscribed, cleaned = exports(
        "mailchimp_subscribed.csv", "mailchimp_unsubscribed.csv", "mailchimp_cleaned.csv"
    )
    lines = run("--format", "mailchimp", subscribed, unsubscribed, cleaned).splitlines()
    assert lines[0].startswith(
        f"{subscribed}: imported: 2 confirmed, 1 pending, 0 suppressed-skipped, 0 unchanged, 1 rejected"
    )
    assert "1 added to the suppression list" in lines[1] and "1 added to the suppression list" in lines[2]

    erika = Subscriber.objects.get(email="erika.muster@example.de")
    assert erika.status == Subscriber.Status.CONFIRMED
    assert erika.confirmed_at.isoformat() == "2024-03-01T08:41:00+00:00"  # Mailchimp writes UTC
    (event,) = events_of("erika.muster@example.de")
    assert event.kind == ConsentEvent.Kind.IMPORTED
    assert event.source == (
        "import:mailchimp:mailchimp_subscribed.csv:2 consented_at=2024-03-01T08:30:00+00:00 "
        "confirmed_at=2024-03-01T08:41:00+00:00"
    )
    assert event.evidence.ip == "203.0.113.0"  # the opt-in IP, truncated as the ledger keeps it
    assert event.evidence.user_agent == "confirm_ip=198.51.100.0"  # the confirmation's IP
    assert Subscriber.objects.get(email="john.sample@example.com").language == "en"  # LANGUAGE
    # Opted in without a confirmation in Mailchimp: pending here, mailed only with --send-confirmation.
    assert Subscriber.objects.get(email="max.single@example.de").status == Subscriber.Status.PENDING
    # A confirmation time alone is no consent time: rejected, naming Mailchimp's column.
    assert rejects_of(subscribed)["5"].startswith("OPTIN_TIME: no consent time")
    assert not Subscriber.objects.filter(email="ohne.zeit@example.de").exists()

    # Unsubscribed and cleaned members: on the suppression list with the reason, never subscribers.
    assert not Subscriber.objects.filter(email__in=["weg@example.de", "tot@example.de"]).exists()
    assert suppression_of("weg@example.de") == Suppression.Reason.UNSUBSCRIBED
    assert suppression_of("tot@example.de") == Suppression.Reason.BOUNCED
    (gone,) = events_of("weg@example.de")
    assert gone.kind == ConsentEvent.Kind.SUPPRESSED
    assert gone.source == (
        "import:mailchimp:mailchimp_unsubscribed.csv:2 reason=unsubscribed at=2024-02-01T12:00:00+00:00"
    )
    assert events_of("tot@example.de")[0].source.endswith("reason=bounced at=2024-04-04T04:04:00+00:00")
    assert ledger.verify_chain().intact

    # Run again: nothing changes, no second suppression event.
    events = ConsentEvent.objects.count()
    again = run("--format", "mailchimp", subscribed, unsubscribed, cleaned).splitlines()
    assert "0 confirmed, 0 pending, 0 suppressed-skipped, 3 unchanged" in again[0]
    assert "1 unchanged" in again[1] and "suppression list" not in again[1]
    assert ConsentEvent.objects.count() == events


def test_a_suppression_file_imported_first_keeps_the_member_off_the_active_list(exports, topics):
    unsubscribed, subscribed = exports("mailchimp_unsubscribed.csv", "mailchimp_subscribed.csv")
    Path(subscribed).write_text(
        Path(subscribed).read_text().replace("erika.muster@example.de", "weg@example.de"), encoding="utf-8"
    )
    run("--format", "mailchimp", unsubscribed, subscribed)
    assert not Subscriber.objects.filter(email="weg@example.de").exists()
    assert suppression_of("weg@example.de") == Suppression.Reason.UNSUBSCRIBED


def test_cleverreach_registered_activated_and_deactivated(exports, topics):
    (path,) = exports("cleverreach.csv")
    assert run("--format", "cleverreach", path).startswith("imported: 1 confirmed, 1 pending")
    anna = Subscriber.objects.get(email="anna.klever@example.de")
    assert anna.confirmed_at.isoformat() == "2024-03-01T08:41:00+00:00"  # seconds since 1970, UTC
    assert events_of("anna.klever@example.de")[0].source.startswith(
        "import:cleverreach:cleverreach.csv:2 source=Shop-Checkout consented_at=2024-03-01T08:30:00+00:00"
    )
    assert Subscriber.objects.get(email="bernd.wartet@example.de").status == Subscriber.Status.PENDING  # activated 0
    assert not Subscriber.objects.filter(email="clara.weg@example.de").exists()
    assert suppression_of("clara.weg@example.de") == Suppression.Reason.UNSUBSCRIBED


def test_rapidmail_statuses_and_both_ips(exports, topics):
    (path,) = exports("rapidmail.csv")  # semicolons, as rapidmail writes them
    assert run("--format", "rapidmail", path).startswith("imported: 1 confirmed, 1 pending")
    (event,) = events_of("dora.rapid@example.de")
    assert (event.evidence.ip, event.evidence.user_agent) == ("203.0.113.0", "confirm_ip=203.0.113.0")
    assert Subscriber.objects.get(email="emil.neu@example.de").status == Subscriber.Status.PENDING
    assert suppression_of("fritz.bounce@example.de") == Suppression.Reason.BOUNCED
    assert suppression_of("greta.spam@example.de") == Suppression.Reason.COMPLAINED
    assert suppression_of("hans.ab@example.de") == Suppression.Reason.UNSUBSCRIBED
    assert rejects_of(path)["7"].startswith("status: unknown value 'frozen'")
    assert Subscriber.objects.count() == 2


def test_brevo_rows_need_a_consent_basis_and_blacklisted_ones_are_suppressed(exports, topics, json_log):
    (path,) = exports("brevo.csv")
    # Brevo's export has no consent time: without a stated basis the active contact is rejected.
    assert run("--format", "brevo", path).startswith("imported: 0 confirmed, 0 pending")
    assert rejects_of(path)["2"].startswith("consented_at: no consent time")
    assert suppression_of("jan.gesperrt@example.de") == Suppression.Reason.UNSUBSCRIBED

    basis = "Anmeldeformular musterhaus.example, Double-Opt-In bei Brevo"
    assert run("--format", "brevo", "--consent-basis", basis, path).startswith("imported: 0 confirmed, 1 pending")
    (event,) = events_of("ilse.brevo@example.de")
    assert event.source == f"import:brevo:brevo.csv:2 consent_basis={basis}"
    logged = [json.loads(line) for line in json_log.getvalue().splitlines() if "consent basis" in line]
    assert [(e["event"], e["consent_basis"], e["format"]) for e in logged] == [
        ("import consent basis stated", basis, "brevo")
    ]


def test_a_row_with_only_confirmed_at_is_rejected_unless_a_consent_basis_is_given(tmp_path, topics):
    path = tmp_path / "alt.csv"
    path.write_text("email,confirmed_at\nnur.bestaetigt@example.de,2024-03-01T09:41:00+01:00\n", encoding="utf-8")
    assert "1 rejected" in run(str(path))
    assert rejects_of(path)["2"].startswith("consented_at: no consent time")
    assert not Subscriber.objects.exists()

    basis = "Kundenkonto-Häkchen im Shop, 2019–2024"
    assert run(str(path), "--consent-basis", basis).startswith("imported: 1 confirmed")
    (event,) = events_of("nur.bestaetigt@example.de")
    assert event.source.endswith(f"confirmed_at=2024-03-01T08:41:00+00:00 consent_basis={basis}")


def test_topics_option_gives_the_topics_of_rows_that_name_none(tmp_path, topics):
    path = tmp_path / "t.csv"
    path.write_text(
        "email,topics,consented_at\nohne@example.de,,2024-03-01T09:30:00\nmit@example.de,sonderangebote,2024-03-01T09:30:00\n",
        encoding="utf-8",
    )
    run(str(path), "--topics", "finanznachrichten,produktneuheiten")
    ohne = Subscriber.objects.get(email="ohne@example.de")
    assert sorted(ohne.subscriptions.values_list("topic__slug", flat=True)) == ["finanznachrichten", "produktneuheiten"]
    mit = Subscriber.objects.get(email="mit@example.de")
    assert list(mit.subscriptions.values_list("topic__slug", flat=True)) == ["sonderangebote"]


GERMAN_EXCEL = (
    "email;Vorname;Nachname;consented_at;confirmed_at;topics;source\r\n"
    "juergen.groesser@example.de;Jürgen;Größer;04.12.2026 09:30;04.12.2026 09:41;sonderangebote;Messe München\r\n"
    "aenne@example.de;Änne;Weiß;01.03.2024;;;Laden Köln\r\n"
    "falsch@example.de;Fa;Lsch;12/05/2024 09:30;;;\r\n"
)


def test_a_german_excel_csv_in_windows_1252_with_semicolons_and_crlf(tmp_path, topics):
    path = tmp_path / "Kunden Excel.csv"
    path.write_bytes(GERMAN_EXCEL.encode("cp1252"))
    assert run(str(path)).startswith("imported: 1 confirmed, 1 pending, 0 suppressed-skipped, 0 unchanged, 1 rejected")
    juergen = Subscriber.objects.get(email="juergen.groesser@example.de")
    assert juergen.confirmed_at.isoformat() == "2026-12-04T08:41:00+00:00"  # read in TIME_ZONE (Berlin)
    assert events_of("juergen.groesser@example.de")[0].source.startswith(
        "import:Kunden Excel.csv:2 source=Messe München consented_at=2026-12-04T08:30:00+00:00"
    )
    assert Subscriber.objects.filter(email="aenne@example.de", status=Subscriber.Status.PENDING).exists()
    assert events_of("aenne@example.de")[0].source.endswith("consented_at=2024-02-29T23:00:00+00:00")
    # Month and day order is ambiguous in 12/05/2024: refused rather than guessed.
    assert rejects_of(path)["4"].startswith("consented_at: '12/05/2024 09:30' is not a date and time")


def test_utf8_with_a_byte_order_mark_and_tab_separated(tmp_path, topics):
    path = tmp_path / "bom.tsv"
    path.write_bytes(
        b"\xef\xbb\xbf" + "email\tconsented_at\tVorname\noezlem@example.de\t2024-03-01 09:30\tÖzlem\n".encode()
    )
    assert run(str(path)).startswith("imported: 0 confirmed, 1 pending")
    assert Subscriber.objects.filter(email="oezlem@example.de").exists()


def test_a_semicolon_file_in_the_wrong_format_names_the_columns_and_the_delimiter(exports, topics):
    (path,) = exports("rapidmail.csv")
    with pytest.raises(CommandError) as failure:
        run("--format", "mailchimp", path)
    message = str(failure.value)
    assert failure.value.returncode == 1
    assert "no `email address` column for --format mailchimp" in message
    assert "columns found: 'email', 'firstname', 'lastname'" in message
    assert "read with the delimiter semicolon (UTF-8); it reads as --format rundbrief" in message


def test_a_broken_file_among_several_imports_nothing(exports, tmp_path, topics):
    (good,) = exports("mailchimp_subscribed.csv")
    workbook = tmp_path / "export.xlsx"
    workbook.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00")
    with pytest.raises(CommandError, match="not a CSV file"):
        run("--format", "mailchimp", good, str(workbook))
    assert not Subscriber.objects.exists() and not ConsentEvent.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--topics", "edelsteine"], "--topics: unknown topic 'edelsteine'"),
        (["--consent-basis", "zwei\nZeilen"], "--consent-basis: one line"),
        (["second.csv", "--rejects", "r.csv"], "--rejects names one file"),
    ],
)
def test_bad_options_refuse_the_call_before_anything_is_imported(exports, topics, args, message, tmp_path):
    (path,) = exports("mailchimp_subscribed.csv")
    (tmp_path / "second.csv").write_text("Email Address\nx@example.de\n", encoding="utf-8")
    with pytest.raises(CommandError, match=message):
        run(path, *[str(tmp_path / a) if a == "second.csv" else a for a in args], "--format", "mailchimp")
    assert not Subscriber.objects.exists()


def test_an_unknown_format_is_refused(exports, topics):
    (path,) = exports("mailchimp_subscribed.csv")
    with pytest.raises(CommandError, match="invalid choice: 'constantcontact'"):
        run("--format", "constantcontact", path)


# -- strangers' files: never a traceback --------------------------------------------------------

NAMES = st.sampled_from(
    [
        "email",
        "Email Address",
        "EMAIL",
        "consented_at",
        "confirmed_at",
        "OPTIN_TIME",
        "CONFIRM_IP",
        "status",
        "registered",
        "deactivated",
        "UNSUB_TIME",
        "EMAIL_BLACKLISTED",
        "topics",
        "ip",
        "Größe",
        "",
        '"',
    ]
)
VALUES = st.sampled_from(
    [
        "x@example.de",
        "y@example.de",
        "2024-03-01 09:30",
        "05.12.2025 09:30",
        "31.02.2024",
        "1709281800",
        "99999999999999999999",
        "0",
        "yes",
        "",
        '"',
        'a"b',
        "=1+2",
        "\r",
        "\n",
        "\x00",
        "\ufeff",
        "Ünïcödé",
        "active",
        "deleted",
        "frozen",
        "sonderangebote",
        "2001:db8::1",
        "203.0.113.7",
    ]
)
# Mostly files whose first column is an address column of some format, so rows get past the header check.
HEADERS = st.tuples(st.sampled_from(["email", "Email Address", "EMAIL", "Größe"]), st.lists(NAMES, max_size=5))
ROWS = st.tuples(st.sampled_from(["x@example.de", "Y@Example.de", "kaputt", ""]), st.lists(VALUES, max_size=6))
TEXTS = st.tuples(HEADERS, st.lists(ROWS, max_size=4), st.sampled_from([",", ";", "\t", "|"])).map(
    lambda parts: "".join(parts[2].join([first, *rest]) + "\r\n" for first, rest in [parts[0], *parts[1]])
)
FILES = st.one_of(
    st.binary(max_size=200),
    st.tuples(TEXTS, st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"])).map(
        lambda pair: pair[0].encode(pair[1], errors="replace")
    ),
)


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=FILES, format_name=st.sampled_from(sorted(FORMATS)))
def test_any_file_is_imported_or_refused_with_one_clear_line(content, format_name, topics, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "fremd.csv"
    path.write_bytes(content)
    try:
        (summary,) = import_files([path], format_name=format_name, consent_basis="Fuzz")
    except ImportFileError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
    else:
        assert summary.rejects_path.exists()
        assert min(summary.confirmed, summary.pending, summary.rejected, summary.suppression_added) >= 0


def test_who_unsubscribed_elsewhere_may_opt_in_again_here_but_a_bounced_address_gets_no_mail(exports, topics):
    from rundbrief.audience import actions
    from rundbrief.audience.models import ConsentText

    run("--format", "mailchimp", *exports("mailchimp_unsubscribed.csv", "mailchimp_cleaned.csv"))
    text = ConsentText.current("de")
    assert actions.request_subscription("weg@example.de", consent_text=text).mail_queued
    assert not actions.request_subscription("tot@example.de", consent_text=text).mail_queued


def test_a_member_who_left_is_suppressed_even_with_an_unreadable_time_and_an_empty_status_is_a_member(tmp_path, topics):
    gone = tmp_path / "unsubscribed.csv"
    gone.write_text('"Email Address",UNSUB_TIME\nweg@example.de,gestern\n', encoding="utf-8")
    assert "1 added to the suppression list" in run("--format", "mailchimp", str(gone))
    assert suppression_of("weg@example.de") == Suppression.Reason.UNSUBSCRIBED
    assert events_of("weg@example.de")[0].source == "import:mailchimp:unsubscribed.csv:2 reason=unsubscribed"

    members = tmp_path / "rapid.csv"
    members.write_text("email;status;created\nda@example.de;;2024-03-01 09:30:00\n", encoding="utf-8")
    assert run("--format", "rapidmail", str(members)).startswith("imported: 0 confirmed, 1 pending")
