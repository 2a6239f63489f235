"""The soak's invariants, checked from its files after the run (bench/soak.py calls `check`).

    .venv/bin/python bench/soak_check.py FOLDER     # re-check a run kept with --keep; exit 1 if one fails

Inputs, all written during the run into FOLDER: `ledger.log` (bench/soak_load.py: what the load
generator did and when the answer came), `sink.log` (bench/soak_sink.py: who got which
Message-ID, when the transaction began), `sent_ids.txt` (the Delivery rows the ledger calls sent,
read from the database after the run) and `facts.json` (subscribers, kills, the duplicate bound).

The promises are docs/delivery.md's, measured from outside:
- withdrawn: nobody is mailed in a transaction begun more than GRACE (1 s) after the answer to
  their one-click withdrawal arrived (the commit happened before the answer);
- erased: the same for an erasure (`DELETE /api/v1/subscribers/<id>` answered 204); the engine
  sees an erasure by the same consent check, so it is held to the same second;
- duplicates: copies beyond the first, summed over everyone, are at most kills ×
  DELIVERY_DUPLICATE_BOUND, and every copy to one person carries one Message-ID;
- lost: every subscriber of the campaign not withdrawn or erased by the load got at least one
  copy, and every row the ledger calls sent arrived at the sink.
"""

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

GRACE = 1.0
CAMPAIGN_ID = re.compile(r"^<rb\.(\d+)\.(\d+)\.")  # the engine's Message-ID: <rb.CAMPAIGN.DELIVERY.MAC@domain>
READER = re.compile(r"^leser(\d+)@example\.org$")


def read_ledger(path):
    """[(kind, n, sent_at, done_at, status)]"""
    rows = []
    for line in Path(path).read_text().splitlines():
        kind, n, _public_id, sent, done, status = line.split()
        rows.append((kind, int(n), float(sent), float(done), int(status)))
    return rows


def read_sink(path):
    """{n: [(message_id, mail_time)]} for the campaign's messages to the soak's readers (leserN@…);
    other mail (the sign-ups' confirmation requests) is left out."""
    copies = defaultdict(list)
    for line in Path(path).read_text().splitlines():
        rcpt, message_id, mail_time, _end = line.split()
        reader = READER.match(rcpt)
        if reader and CAMPAIGN_ID.match(message_id):
            copies[int(reader.group(1))].append((message_id, float(mail_time)))
    return copies


def check(*, ledger, copies, sent_ids, subscribers, kills, bound):
    """[(invariant, ok, detail)] — detail names the first offenders."""
    results = []
    acted = {"withdraw": {}, "erase": {}}
    touched = set()
    for kind, n, _sent, done, status in ledger:
        if kind in acted:
            touched.add(n)  # any answer, even none: whether it took effect is not known for certain
            if status in (200, 204):
                acted[kind][n] = done

    for kind, name in (("withdraw", "withdrawn"), ("erase", "erased")):
        late = []
        for n, done in acted[kind].items():
            after = [t for _mid, t in copies.get(n, []) if t > done + GRACE]
            if after:
                late.append(f"leser{n}: transaction began {max(after) - done:.2f} s after the answer")
        results.append(
            (
                f"nobody {name} more than {GRACE:g} s before the transaction was mailed",
                not late,
                f"{len(acted[kind])} {name}; " + ("; ".join(late[:5]) if late else "none mailed late"),
            )
        )

    extra = sum(len(c) - 1 for c in copies.values())
    allowed = kills * bound
    mixed = [n for n, c in copies.items() if len({mid for mid, _t in c}) > 1]
    results.append(
        (
            "duplicates within kills × DELIVERY_DUPLICATE_BOUND",
            extra <= allowed,
            f"{extra} extra copies, at most {kills} × {bound} = {allowed} allowed; "
            f"{sum(1 for c in copies.values() if len(c) > 1)} people got more than one",
        )
    )
    results.append(
        (
            "every copy to one person has the same Message-ID",
            not mixed,
            f"{len(mixed)} people with different Message-IDs" + (f", e.g. leser{mixed[0]}" if mixed else ""),
        )
    )

    missing = [n for n in range(1, subscribers + 1) if n not in touched and n not in copies]
    arrived = {int(CAMPAIGN_ID.match(mid).group(2)) for c in copies.values() for mid, _t in c}
    unseen = [d for d in sent_ids if d not in arrived]
    results.append(
        (
            "nobody lost",
            not missing and not unseen,
            f"{subscribers - len(touched)} expected, {len(missing)} got nothing"
            + (f" (e.g. leser{missing[0]})" if missing else "")
            + f"; {len(unseen)} rows recorded as sent never arrived"
            + (f" (e.g. delivery {unseen[0]})" if unseen else ""),
        )
    )
    return results


def check_folder(folder):
    folder = Path(folder)
    facts = json.loads((folder / "facts.json").read_text())
    return check(
        ledger=read_ledger(folder / "ledger.log"),
        copies=read_sink(folder / "sink.log"),
        sent_ids=[int(x) for x in (folder / "sent_ids.txt").read_text().split()],
        subscribers=facts["subscribers"],
        kills=facts["kills"],
        bound=facts["bound"],
    )


def report(results, out=sys.stdout):
    """Prints one line per invariant; True when all hold."""
    for name, ok, detail in results:
        print(f"invariant {'ok  ' if ok else 'FAIL'} {name}: {detail}", file=out)
    return all(ok for _name, ok, _detail in results)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1], "facts.json").is_file():
        sys.exit("usage: bench/soak_check.py FOLDER  (a run kept with bench/soak.py --keep)")
    sys.exit(0 if report(check_folder(sys.argv[1])) else 1)
