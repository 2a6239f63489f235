"""Benchmark of bounce classification over real mail: in one process, and one CLI call over 600 files.

    .venv/bin/python bench/bounces.py [--messages 4000] [--files 600] [--runs 3]

The messages are the real corpus in tests/bounce_corpus_real/ (432 bounces, complaints and
auto-replies written by real mail servers; no generated mail), repeated to N. Two figures, the
median of --runs runs each:

* in-process: parse.classify() over N messages in this process (import-time regex compilation
  excluded), target ≥ 1,000 messages/s;
* CLI: one `rundbrief bounces classify --json` call over --files files (the corpus copied
  under distinct names into a temporary folder), start-up included, target ≥ 400 files/s.

One line: `bounces: messages=N per_s=X cli_files=F cli_per_s=Y` (docs/benchmarks.md).
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT / "tests/bounce_corpus_real"


def real_files():
    return sorted(p for folder in ("flufl", "sisimai-err", "bsd") for p in (CORPUS / folder).iterdir())


def in_process(messages):
    from rundbrief.bounces.parse import classify

    started = time.perf_counter()
    bounces = sum(classify(raw, references=False).is_bounce for raw in messages)
    elapsed = time.perf_counter() - started
    assert bounces > len(messages) // 2, "the real corpus is mostly bounces"
    return len(messages) / elapsed


def one_cli_call(folder, count):
    command = [str(ROOT / ".venv/bin/rundbrief"), "bounces", "classify", "--json", *map(str, sorted(folder.iterdir()))]
    started = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    elapsed = time.perf_counter() - started
    assert len(out.splitlines()) == count
    return count / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from rundbrief.bounces.parse import classify

    files = real_files()
    base = [p.read_bytes() for p in files]
    messages = [base[i % len(base)] for i in range(args.messages)]
    classify(messages[0], references=False)  # regex compilation is not part of the rate
    rates = [in_process(messages) for _ in range(args.runs)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(args.files):
            source = files[i % len(files)]
            shutil.copyfile(source, folder / f"{i:04d}-{source.name}")
        cli = [one_cli_call(folder, args.files) for _ in range(args.runs)]
    print(
        f"bounces: messages={len(messages)} per_s={statistics.median(rates):.0f} "
        f"cli_files={args.files} cli_per_s={statistics.median(cli):.0f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
