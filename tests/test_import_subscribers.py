"""`rundbrief import-subscribers`: confirmed and pending rows, suppression, rejects, idempotency, the ledger, memory."""

import csv
import io
import tracemalloc

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rundbrief.audience import ledger
from rundbrief.audience.actions import suppress_address, withdraw_consent
from rundbrief.audience.addresses import normalise_address, subject_hash, truncate_ip
from rundbrief.audience.importer import import_subscribers, normalise_fast, truncate_ip_fast
from rundbrief.audience.ledger_batch import EventRow, canonical_fast
from rundbrief.audience.models import ConsentEvent, Subscriber, Suppression

HEADER = "email,topics,consented_at,confirmed_at,source,ip,consent_text_version\n"


@pytest.fixture
def csv_file(tmp_path):
    def write(body, header=HEADER, name="kunden.csv"):
        path = tmp_path / name
        path.write_text(header + body, encoding="utf-8")
        return path

    return write


def run(path, *args):
    out = io.StringIO()
    call_command("import-subscribers", str(path), *args, stdout=out)
    return out.getvalue().strip()


def rejects_of(path):
    with open(path.with_name(path.stem + ".rejects.csv"), encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_row_with_confirmed_at_becomes_a_confirmed_subscriber_with_an_imported_event(csv_file, topics):
    path = csv_file(
        "Erika.Muster@Example.de,finanznachrichten|sonderangebote,2024-03-01T09:30:00+01:00,"
        "2024-03-01T09:41:00+01:00,Messe München,203.0.113.77,de:1\n"
    )
    assert run(path) == (
        f"imported: 1 confirmed, 0 pending, 0 suppressed-skipped, 0 unchanged, 0 rejected "
        f"(see {path.with_name('kunden.rejects.csv')})"
    )
    erika = Subscriber.objects.get(email="erika.muster@example.de")
    assert erika.status == Subscriber.Status.CONFIRMED
    assert erika.confirmed_at.isoformat() == "2024-03-01T08:41:00+00:00"
    assert sorted(erika.subscriptions.values_list("topic__slug", flat=True)) == ["finanznachrichten", "sonderangebote"]
    event = ConsentEvent.objects.get(subscriber=erika)
    assert event.kind == ConsentEvent.Kind.IMPORTED
    assert event.subject_hash == subject_hash("erika.muster@example.de")
    assert event.consent_text.version == 1 and event.consent_text_sha256 == event.consent_text.sha256
    assert event.topics == ["finanznachrichten", "sonderangebote"]
    assert event.source == (
        "import:kunden.csv:2 source=Messe München consented_at=2024-03-01T08:30:00+00:00 "
        "confirmed_at=2024-03-01T08:41:00+00:00"
    )
    assert event.evidence.ip == "203.0.113.0"  # GDPR Art. 5(1)(c): truncated to /24 as the ledger does
    assert ledger.verify_chain().intact


def test_a_row_without_confirmed_at_becomes_pending_and_gets_no_mail(csv_file, topics, smtp_inbox):
    path = csv_file("max@example.de,,2024-03-01T09:30:00,,,,\n")
    assert "0 confirmed, 1 pending" in run(path)
    max_ = Subscriber.objects.get(email="max@example.de")
    assert max_.status == Subscriber.Status.PENDING
    # No topics given: the consent covers every topic named in the text, as on the form.
    assert max_.subscriptions.count() == 3
    assert smtp_inbox.messages == []


def test_send_confirmation_mails_pending_rows_through_the_double_opt_in(
    csv_file,
    topics,
    smtp_inbox,
    django_capture_on_commit_callbacks,  # noqa: F811
):
    path = csv_file(
        "max@example.de,produktneuheiten,2024-03-01T09:30:00,,,,\nerika@example.de,,2024-03-01T09:30:00,2024-03-01T09:41:00,,,\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        summary = run(path, "--send-confirmation")
    assert "1 confirmed, 1 pending" in summary
    assert [m["To"] for m in smtp_inbox.mails] == ["max@example.de"]
    kinds = list(ConsentEvent.objects.filter(subject_hash=subject_hash("max@example.de")).values_list("kind", "source"))
    assert kinds == [
        ("requested", "import:kunden.csv:2 consented_at=2024-03-01T08:30:00+00:00"),
        ("confirmation_sent", "mail:confirmation-request"),
    ]


def test_suppressed_addresses_are_skipped_and_counted(csv_file, topics):
    suppress_address("bounced@example.de", reason=Suppression.Reason.BOUNCED)
    path = csv_file("Bounced@Example.de,,2024-03-01T09:30:00,2024-03-01T09:41:00,,,\n")
    assert "0 confirmed, 0 pending, 1 suppressed-skipped" in run(path)
    assert not Subscriber.objects.filter(email="bounced@example.de").exists()


def test_invalid_rows_go_to_the_rejects_file_with_line_number_and_reason(csv_file, topics):
    path = csv_file(
        "kein-at-zeichen,,,,,,\n"
        '"a@b.de\r\nBcc: x@y.de",,,,,,\n'
        "c@example.de,,gestern,,,,\n"
        "d@example.de,,2024-03-01T09:30:00,,,,7\n"
        "e@example.de,edelsteine,2024-03-01T09:30:00,,,,\n"
        "f@example.de,,2024-03-01T09:30:00,,,999.1.1.1,\n"
        "g@example.de,,2024-03-02T00:00:00,2024-03-01T00:00:00,,,\n"
        "ok@example.de,,2024-03-01T09:30:00,,,,\n"
        "OK@example.de,,2024-03-01T09:30:00,,,,\n"
    )
    assert "1 pending" in run(path) and "8 rejected" in run(path)
    rejects = {row["line"]: row["reason"] for row in rejects_of(path)}
    assert rejects["2"].startswith("email: This does not look like a valid e-mail address")
    assert "line breaks" in rejects["3"]
    assert rejects["5"].startswith("consented_at:")
    assert rejects["6"].startswith("consent_text_version: unknown consent text '7'")
    assert rejects["7"].startswith("topics: unknown topic 'edelsteine'")
    assert rejects["8"].startswith("ip:")
    assert rejects["9"] == "confirmed_at lies before consented_at"
    assert rejects["11"] == "duplicate: the address is already on line 10"
    assert rejects_of(path)[0]["email"] == "kein-at-zeichen"  # the row as it was, to fix and re-import


def test_topics_may_be_separated_by_bar_semicolon_or_space(csv_file, topics):
    path = csv_file(
        "a@example.de,produktneuheiten|sonderangebote,2024-03-01T09:30:00,,,,\n"
        "b@example.de,produktneuheiten;sonderangebote,2024-03-01T09:30:00,,,,\n"
        'c@example.de,"produktneuheiten  Sonderangebote",,,,,\n'
    )
    run(path)
    for subscriber in Subscriber.objects.all():
        slugs = sorted(subscriber.subscriptions.values_list("topic__slug", flat=True))
        assert slugs == ["produktneuheiten", "sonderangebote"]


def test_importing_the_same_file_again_changes_nothing(csv_file, topics):
    path = csv_file(
        "a@example.de,,2024-03-01T09:30:00,2024-03-01T09:41:00,,198.51.100.7,1\nb@example.de,,2024-03-01T09:30:00,,,,\n"
    )
    run(path)

    def snapshot():
        return (
            list(Subscriber.objects.values_list("email", "status", "public_id")),
            ConsentEvent.objects.count(),
        )

    before = snapshot()
    assert run(path).startswith("imported: 0 confirmed, 0 pending, 0 suppressed-skipped, 2 unchanged, 0 rejected")
    assert snapshot() == before


def test_an_import_never_resubscribes_someone_who_withdrew(csv_file, topics):
    path = csv_file("a@example.de,,2024-03-01T09:30:00,2024-03-01T09:41:00,,,\n")
    run(path)
    withdraw_consent(Subscriber.objects.get(email="a@example.de"), source="web:one-click-unsubscribe")
    assert "1 unchanged" in run(path)
    assert Subscriber.objects.get(email="a@example.de").status == Subscriber.Status.WITHDRAWN


def test_the_ledger_chain_verifies_across_bulk_and_single_appends(csv_file, topics):
    suppress_address("first@example.de", reason=Suppression.Reason.MANUAL)  # a single append before
    rows = "".join(
        f"p{i}@example.de,,2024-03-01T09:30:00,2024-03-01T09:41:00,,203.0.113.{i % 250},\n" for i in range(25)
    )
    import_subscribers(csv_file(rows), chunk_rows=7)  # several chunks, each one bulk append
    suppress_address("last@example.de", reason=Suppression.Reason.MANUAL)  # and one after
    report = ledger.verify_chain()
    assert report.intact and report.count == 27


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    source=st.text(max_size=40),
    topics=st.lists(st.text(max_size=12), max_size=4),
    ct=st.none() | st.integers(1, 99),
    ip=st.sampled_from(["", "203.0.113.0"]),
    ua=st.text(max_size=20),
)
def test_the_bulk_canonical_form_is_the_ledgers_byte_for_byte(source, topics, ct, ip, ua):
    from datetime import UTC, datetime

    event = EventRow(
        "imported",
        "ab" * 32,
        consent_text_id=ct,
        consent_text_sha256="cd" * 32 if ct else "",
        topics=tuple(sorted(topics)),
        source=source,
        occurred_at=datetime(2025, 1, 2, 3, 4, 5, 6, UTC),
        evidence_commitment=ledger.evidence_commitment(ip, ua, "00" * 16) if ip or ua else "",
    )
    assert canonical_fast(event) == ledger.canonical(ledger.chained_payload(event))


ADDRESSY = st.from_regex(r"[A-Za-z0-9._%+!#'-]{0,70}@[A-Za-z0-9.-]{0,40}\.[A-Za-z0-9-]{0,8}", fullmatch=True)


TRICKY = ["x@example.test", "x@host.localhost", "a@b--c.de", "\u212a@example.de", "a@b.de\n", "A@B.DE "]


@hypothesis_settings(max_examples=300, deadline=None)
@given(raw=ADDRESSY | st.text(max_size=80) | st.sampled_from(TRICKY))
def test_the_fast_address_path_agrees_with_normalise_address(raw):
    from django.core.exceptions import ValidationError

    try:
        expected = normalise_address(raw)
    except ValidationError:
        expected = None
    try:
        got = normalise_fast(raw)
    except ValidationError:
        got = None
    assert got == expected


@given(ip=st.ip_addresses().map(str) | st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,4}){2,4}", fullmatch=True))
def test_the_fast_ip_path_agrees_with_truncate_ip(ip):
    assert truncate_ip_fast(ip) == truncate_ip(ip)


@given(key=st.binary(max_size=150), address=st.text(max_size=80))
def test_the_import_subject_hash_is_hmac_sha256_for_any_key_length(key, address):
    """Keys shorter and longer than SHA-256's 64-byte block (RFC 2104 §2) give hmac's own digest."""
    import hmac

    from rundbrief.audience.import_rows import subject_hasher

    encoded = address.encode("utf-8")
    assert subject_hasher(key)(encoded) == hmac.new(key, encoded, "sha256").hexdigest()


def test_the_import_subject_hash_is_the_ledgers(settings):
    from rundbrief.audience.addresses import hash_key
    from rundbrief.audience.import_rows import subject_hasher

    for configured in ("", "a-configured-key"):
        settings.RUNDBRIEF_HASH_KEY = configured
        assert subject_hasher(hash_key())(b"erika@example.de") == subject_hash("erika@example.de")


def test_a_file_neither_utf8_nor_windows_1252_is_refused_with_one_line_and_exit_status_1(tmp_path, topics):
    path = tmp_path / "kaputt.csv"
    # 0x81 is undefined in Windows-1252 and no UTF-8 sequence either.
    path.write_bytes(HEADER.encode() + b"m\x81ller@example.de,,2024-03-01T09:30:00,,,,\n")
    with pytest.raises(CommandError) as failure:
        run(path)
    assert failure.value.returncode == 1
    assert str(failure.value) == f"{path}: neither UTF-8 nor Windows-1252 text (save it as CSV UTF-8)"
    assert not Subscriber.objects.exists()


def test_a_file_without_an_email_column_is_refused_with_exit_status_1(csv_file, topics):
    with pytest.raises(CommandError) as failure:
        run(csv_file("a@example.de\n", header="mail\n"))
    assert failure.value.returncode == 1
    assert "no `email` column for --format rundbrief; columns found: 'mail', read with the delimiter comma" in str(
        failure.value
    )


def test_rejects_go_where_the_rejects_option_says(csv_file, topics, tmp_path):
    target = tmp_path / "out" / "fehler.csv"
    target.parent.mkdir()
    assert run(csv_file("nope,,,,,,\n"), "--rejects", str(target)).endswith(f"1 rejected (see {target})")
    assert target.read_text().splitlines()[1].startswith("2,email:")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_progress_bar_and_a_log_only_the_summary(csv_file, topics):
    path = csv_file("a@example.de,,2024-03-01T09:30:00,,,,\n")
    terminal = Terminal()
    call_command("import-subscribers", str(path), stdout=terminal)
    assert "importing" in terminal.getvalue() and "imported: 0 confirmed, 1 pending" in terminal.getvalue()
    assert run(csv_file("b@example.de,,2024-03-01T09:30:00,,,,\n", name="b.csv")).startswith(
        "imported: 0 confirmed, 1 pending"
    )


def _peak_import_memory(csv_file, rows, name):
    body = "".join(
        f"{name}{i}@example.de,,2024-03-01T09:30:00,2024-03-01T09:41:00,shop,203.0.113.9,1\n" for i in range(rows)
    )
    path = csv_file(body, name=name)
    tracemalloc.start()
    try:
        summary = import_subscribers(path, chunk_rows=500)
        return tracemalloc.get_traced_memory()[1], summary
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_file(csv_file, topics):
    """Ten times the rows, about the same peak: only one chunk is held at a time."""
    small, _ = _peak_import_memory(csv_file, 1_000, "small.csv")
    large, summary = _peak_import_memory(csv_file, 10_000, "large.csv")
    assert summary.confirmed == 10_000
    assert large < small * 1.5 + 512 * 1024, (small, large)


def test_a_chunk_larger_than_one_insert_statement_is_written_whole(csv_file, topics):
    """Multi-row INSERTs split at the parameter limit: every subscription, event and evidence row arrives."""
    from rundbrief.audience.models import ConsentEvidence, Subscription
    from rundbrief.db.bulk import MAX_ROWS_PER_INSERT

    rows = 2 * MAX_ROWS_PER_INSERT + 7  # all three topics each: about six statements of subscriptions
    body = "".join(
        f"k{i}@example.de,,2024-03-01T09:30:00,2024-03-01T09:41:00,,203.0.113.{i % 250},1\n" for i in range(rows)
    )
    summary = import_subscribers(csv_file(body), chunk_rows=rows)
    assert summary.confirmed == rows
    assert Subscriber.objects.count() == rows and Subscription.objects.count() == 3 * rows
    assert ConsentEvent.objects.count() == rows and ConsentEvidence.objects.count() == rows
    assert ConsentEvidence.objects.get(event__subject_hash=subject_hash(f"k{rows - 1}@example.de")).ip == "203.0.113.0"
    assert ledger.verify_chain().intact


def test_an_error_while_parsing_stops_the_import_after_the_chunks_before_it(csv_file, topics, monkeypatch):
    """The parsing thread's exception reaches the caller; the chunk it was building is not written."""
    from rundbrief.audience import importer

    parse = importer.RowParser.parse

    def parse_until_line_8(self, line, fields):
        if line == 8:
            raise RuntimeError("parser broke on line 8")
        return parse(self, line, fields)

    monkeypatch.setattr(importer.RowParser, "parse", parse_until_line_8)
    body = "".join(f"e{i}@example.de,,2024-03-01T09:30:00,2024-03-01T09:41:00,,,\n" for i in range(10))
    with pytest.raises(RuntimeError, match="line 8"):
        import_subscribers(csv_file(body), chunk_rows=3)  # lines 2-4 and 5-7 written, 8-10 not
    assert sorted(Subscriber.objects.values_list("email", flat=True)) == [f"e{i}@example.de" for i in range(6)]
    assert ledger.verify_chain().intact


def test_a_failing_write_stops_the_parsing_thread(csv_file, topics, monkeypatch):
    import sys
    import threading

    from rundbrief.audience.import_writer import ChunkWriter

    def refuse(self, chunk):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ChunkWriter, "write", refuse)
    interval = sys.getswitchinterval()
    body = "".join(f"w{i}@example.de,,2024-03-01T09:30:00,,,,\n" for i in range(50))
    with pytest.raises(RuntimeError, match="disk full"):
        import_subscribers(csv_file(body), chunk_rows=2)
    assert not [t for t in threading.enumerate() if t.name == "rundbrief-read-ahead"]
    assert sys.getswitchinterval() == interval
    assert not Subscriber.objects.exists()


def test_the_import_gives_the_garbage_collector_back_as_it_found_it(csv_file, topics, monkeypatch):
    """Paused during an import, on again afterwards — also after a failure — and off if it was off."""
    import gc

    from rundbrief.audience.import_writer import ChunkWriter

    body = "".join(f"g{i}@example.de,,2024-03-01T09:30:00,,,,\n" for i in range(5))
    import_subscribers(csv_file(body, name="ok.csv"))
    assert gc.isenabled()
    write = ChunkWriter.write
    monkeypatch.setattr(ChunkWriter, "write", lambda self, chunk: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError):
        import_subscribers(csv_file(body, name="failing.csv"))
    assert gc.isenabled()
    monkeypatch.setattr(ChunkWriter, "write", write)
    gc.disable()
    try:
        import_subscribers(csv_file(body, name="again.csv"))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_read_ahead_produces_at_most_depth_items_ahead_of_the_consumer():
    from rundbrief.db.readahead import read_ahead

    consumed, lead = [0], []

    def items():
        for n in range(200):
            lead.append(n - consumed[0])  # how far ahead of the consumer item n is made
            yield n

    with read_ahead(items(), depth=2) as ahead:
        got = []
        for n in ahead:
            got.append(n)
            consumed[0] += 1
    assert got == list(range(200))
    # consumed item in hand, `depth` in the queue, one being produced
    assert max(lead) <= 2 + 1


def test_a_transaction_spans_several_chunks_and_a_failure_undoes_only_the_open_one(csv_file, topics, monkeypatch):
    """Chunks of 2 rows, 4 rows per transaction: when the 4th chunk fails, the 3rd goes with it, the 1st two stay."""
    from rundbrief.audience import importer
    from rundbrief.audience.import_writer import ChunkWriter

    monkeypatch.setattr(importer, "PARSE_ROWS", 2)
    write, calls = ChunkWriter._write, []

    def fail_fourth(self, chunk):
        calls.append(len(chunk))
        if len(calls) == 4:
            raise RuntimeError("database went away")
        write(self, chunk)

    monkeypatch.setattr(ChunkWriter, "_write", fail_fourth)
    body = "".join(f"t{i}@example.de,,2024-03-01T09:30:00,2024-03-01T09:41:00,,203.0.113.1,\n" for i in range(10))
    with pytest.raises(RuntimeError, match="went away"):
        import_subscribers(csv_file(body), chunk_rows=4)
    assert sorted(Subscriber.objects.values_list("email", flat=True)) == [f"t{i}@example.de" for i in range(4)]
    assert ConsentEvent.objects.count() == 4 and ledger.verify_chain().intact
