"""Agreement with the reference classifier (Sisimai 4.25) on real bounce mail (tests/bounce_corpus_real/).

The floors are the figures measured when the classifier was written (docs/bounces.md, "Agreement with
the reference"); a change that loses agreement on real mail fails here. Each measure is computed the
way the shared corpus's score.py computes it: detection over all files, recipient/hard-soft/reason
over the files the reference calls bounces, complaint recall over its feedback reports.
"""

import json
import subprocess
from pathlib import Path

import pytest

from rundbrief.bounces.parse import classify

CORPUS = Path(__file__).resolve().parent / "bounce_corpus_real"
FOLDERS = ("flufl", "sisimai-err", "bsd")
FLOORS = {
    "flufl sisimai-err": {"detection": 0.91, "recipient": 0.90, "hardsoft": 0.95, "reason": 0.81},
    "bsd": {"detection": 0.96, "recipient": 0.89, "hardsoft": 0.90, "complaint": 0.95, "reason": 0.75},
}


def labels():
    lines = (CORPUS / "sisimai-labels.jsonl").read_text().splitlines()
    return {row["file"]: row for row in map(json.loads, lines)}


@pytest.fixture(scope="module")
def results():
    out = {}
    for folder in FOLDERS:
        for path in sorted((CORPUS / folder).iterdir()):
            out[path.name] = (folder, classify(path.read_bytes(), references=False).as_json(path.name))
    return out


def agreement(rows):
    """{measure: fraction} over (oracle row, candidate JSON) pairs."""
    counts = {m: [0, 0] for m in ("detection", "recipient", "hardsoft", "complaint", "reason")}

    def score(measure, ok):
        counts[measure][0] += bool(ok)
        counts[measure][1] += 1

    for oracle, got in rows:
        score("detection", oracle["is_bounce"] == got["is_bounce"])
        if not oracle["is_bounce"]:
            continue
        recipients = oracle["recipients"]
        named = next((r for r in recipients if r["recipient"].lower() == (got["recipient"] or "").lower()), None)
        score("recipient", named is not None)
        flags = [r["hard"] for r in recipients if r["hard"] is not None]
        if flags:
            want = (
                named["hard"] if named and named["hard"] is not None else (flags[0] if len(set(flags)) == 1 else None)
            )
            score("hardsoft", want is not None and got["kind"] == ("hard" if want else "soft"))
        words = {r["reason"] for r in recipients}
        want_reason = named["reason"] if named else (words.pop() if len(words) == 1 else None)
        score("reason", want_reason is not None and got["reason"] == want_reason)
        if any(r["reason"] == "feedback" for r in recipients):
            score("complaint", got["kind"] == "complaint")
    return {m: ok / n for m, (ok, n) in counts.items() if n}


@pytest.mark.parametrize("group", sorted(FLOORS))
def test_agreement_with_the_reference_classifier_does_not_fall_below_the_measured_floor(results, group):
    oracle = labels()
    folders = group.split()
    rows = [(oracle[name], got) for name, (folder, got) in results.items() if folder in folders]
    assert len(rows) > 100
    measured = agreement(rows)
    low = {m: round(measured.get(m, 0), 3) for m, floor in FLOORS[group].items() if measured.get(m, 0) < floor}
    assert not low, f"{group}: below the floor {FLOORS[group]}: {low}"


def test_every_real_file_has_a_reference_label(results):
    assert set(results) == set(labels())


def test_a_reason_is_always_a_word_of_the_vocabulary_and_kind_follows_it(results):
    from rundbrief.bounces import reasons

    for _, got in results.values():
        if got["is_bounce"]:
            assert got["reason"] in set(reasons.Reason), got
            assert got["kind"] == reasons.public_kind(got["reason"]) or got["reason"] == "feedback", got
            for each in got["recipients"]:
                assert each["reason"] in set(reasons.Reason), got


# Prints, for each file, the reason words Sisimai gives its records (written for this test).
ORACLE = r"""
use strict; use warnings; use Sisimai; use JSON::PP;
local $SIG{__WARN__} = sub {};
my $json = JSON::PP->new->canonical(1);
for my $path (@ARGV) {
    my $records = eval { Sisimai->make($path) } || [];
    my @words = map { $_->reason } @$records;
    print $json->encode({ file => (split m{/}, $path)[-1], reasons => \@words }), "\n";
}
"""


def test_the_stored_labels_are_what_the_installed_reference_classifier_says():
    """The oracle itself, run live (Debian's libsisimai-perl, installed by scripts/system-deps.sh): the
    labels the floors are measured against must still be what Sisimai says about these files."""
    files = [str(p) for folder in FOLDERS for p in sorted((CORPUS / folder).iterdir())]
    done = subprocess.run(["perl", "-e", ORACLE, *files], capture_output=True, text=True, check=True, timeout=300)
    live = {row["file"]: row["reasons"] for row in map(json.loads, done.stdout.splitlines())}
    stored = {name: [r["reason"] for r in row["recipients"]] for name, row in labels().items()}
    assert live == stored
