"""`rundbrief bounces classify --json FILE…` without starting Django.

The command reads files and prints JSON; it needs no database, no settings and no
apps, so rundbrief/__main__.py sends it here before Django is set up, and a call
over 600 files pays for parsing mail, not for loading the admin
(docs/bounces.md, "Speed"). The management command of the same name calls this too.
"""

import json
import os
import sys

from rundbrief.bounces.parse import Classification, classify


def classify_file(path: str) -> dict:
    name = os.path.basename(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return Classification(False, diagnosis="cannot read file").as_json(name)
    return classify(raw, references=False).as_json(name)


def write_all(paths, out) -> None:
    """One JSON object per line per file, in order; a file that cannot be read is a line too."""
    for path in paths:
        out.write(json.dumps(classify_file(path), ensure_ascii=False) + "\n")


def main(argv) -> int:
    """argv after `bounces classify`: [--json] FILE…; anything else is left to the management command."""
    files = [a for a in argv if a != "--json"]
    if not files or any(a.startswith("-") for a in files):
        return -1
    write_all(files, sys.stdout)
    sys.stdout.flush()
    return 0
