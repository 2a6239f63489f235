"""The soak's own instruments: the recording sink logs who got what, and the invariant checks fail
when a promise is broken (bench/soak_sink.py, bench/soak_check.py; docs/benchmarks.md, "Soak")."""

import json
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import soak_check

ROOT = Path(__file__).resolve().parent.parent
T = 1_800_000_000.0  # an epoch second for the made-up runs


def mid(delivery):
    return f"<rb.7.{delivery}.abcdef@musterhaus.example>"


def write_run(folder, *, subscribers=4, kills=1, bound=2, ledger=(), sink=None, sent_ids=None):
    """A run's files: by default everyone got one copy at T, the ledger is empty."""
    if sink is None:
        sink = [(n, mid(100 + n), T) for n in range(1, subscribers + 1)]
    if sent_ids is None:
        sent_ids = sorted({100 + n for n, _m, _t in sink})
    (folder / "facts.json").write_text(json.dumps({"subscribers": subscribers, "kills": kills, "bound": bound}))
    (folder / "ledger.log").write_text(
        "".join(f"{kind} {n} {n:032x} {done - 0.05:.3f} {done:.3f} {status}\n" for kind, n, done, status in ledger)
    )
    (folder / "sink.log").write_text(
        "".join(f"leser{n}@example.org {m} {t:.3f} {t + 0.01:.3f}\n" for n, m, t in sink)
        + f"neu1@beispiel.example <confirm.1@musterhaus.example> {T:.3f} {T:.3f}\n"  # service mail: ignored
    )
    (folder / "sent_ids.txt").write_text("\n".join(map(str, sent_ids)))
    return {name: ok for name, ok, _detail in soak_check.check_folder(folder)}


def failed(results):
    return sorted(name.split()[0] + " " + name.split()[1] for name, ok in results.items() if not ok)


def test_a_clean_run_passes_every_invariant(tmp_path):
    assert all(write_run(tmp_path).values())


def test_a_reader_mailed_more_than_a_second_after_her_withdrawal_fails_the_withdrawal_invariant(tmp_path):
    late = [(1, mid(101), T + 1.5)] + [(n, mid(100 + n), T) for n in (2, 3, 4)]
    assert failed(write_run(tmp_path, ledger=[("withdraw", 1, T, 200)], sink=late)) == ["nobody withdrawn"]
    within = [(1, mid(101), T + 0.9)] + late[1:]
    assert all(write_run(tmp_path, ledger=[("withdraw", 1, T, 200)], sink=within).values())


def test_a_reader_mailed_after_her_erasure_fails_the_erasure_invariant(tmp_path):
    late = [(2, mid(102), T + 3)] + [(n, mid(100 + n), T) for n in (1, 3, 4)]
    assert failed(write_run(tmp_path, ledger=[("erase", 2, T, 204)], sink=late)) == ["nobody erased"]


def test_copies_beyond_kills_times_the_bound_fail_and_up_to_it_pass(tmp_path):
    base = [(n, mid(100 + n), T) for n in range(1, 5)]
    at_bound = base + [(1, mid(101), T + 1), (2, mid(102), T + 1)]  # 2 extra, 1 kill × bound 2
    assert all(write_run(tmp_path, sink=at_bound).values())
    beyond = at_bound + [(3, mid(103), T + 1)]
    assert failed(write_run(tmp_path, sink=beyond)) == ["duplicates within"]


def test_a_second_copy_with_another_message_id_fails(tmp_path):
    sink = [(n, mid(100 + n), T) for n in range(1, 5)] + [(4, mid(999), T + 1)]
    assert failed(write_run(tmp_path, sink=sink, sent_ids=[101, 102, 103, 104])) == ["every copy"]


def test_a_reader_who_got_nothing_is_lost_unless_the_load_withdrew_or_erased_her(tmp_path):
    sink = [(n, mid(100 + n), T) for n in (1, 2, 3)]
    assert failed(write_run(tmp_path, sink=sink)) == ["nobody lost"]
    assert all(write_run(tmp_path, sink=sink, ledger=[("withdraw", 4, T, 200)]).values())


def test_a_row_recorded_as_sent_that_never_reached_the_sink_is_lost(tmp_path):
    assert failed(write_run(tmp_path, sent_ids=[101, 102, 103, 104, 105])) == ["nobody lost"]


@pytest.fixture
def sink(tmp_path):
    log, ready = tmp_path / "sink.log", tmp_path / "port"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "soak_sink.py"), "--log", str(log), "--ready", str(ready)]
    )
    deadline = time.monotonic() + 20
    while not (ready.exists() and ready.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    yield int(ready.read_text()), log
    process.terminate()
    process.wait(10)


def logged(log):
    """The sink writes its log in blocks and flushes them at least every 0.5 s."""
    time.sleep(0.8)
    return [line.split() for line in log.read_text().splitlines()]


def test_the_sink_logs_each_accepted_message_with_recipient_and_message_id_but_not_an_aborted_one(sink):
    port, log = sink
    message = "From: a@musterhaus.example\r\nMessage-ID: {}\r\nSubject: x\r\n\r\nGold.\r\n"
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.ehlo()
        assert client.has_extn("pipelining")
        before = time.time()
        client.sendmail("bounces@musterhaus.example", ["leser5@example.org"], message.format(mid(5)))
        client.sendmail("bounces@musterhaus.example", ["leser6@example.org"], message.format(mid(6)))
    aborted = socket.create_connection(("127.0.0.1", port))  # a worker killed during DATA
    aborted.sendall(b"EHLO x\r\nMAIL FROM:<b@x>\r\nRCPT TO:<leser7@example.org>\r\nDATA\r\n")
    time.sleep(0.2)
    aborted.sendall(b"Message-ID: " + mid(7).encode() + b"\r\n\r\nhalf a mess")
    aborted.close()
    lines = logged(log)
    assert [(rcpt, message_id) for rcpt, message_id, _mail, _end in lines] == [
        ("leser5@example.org", mid(5)),
        ("leser6@example.org", mid(6)),
    ]
    assert before - 1 < float(lines[0][2]) <= float(lines[0][3])
