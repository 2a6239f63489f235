"""Benchmark of bounce classification: messages per second on one core.

    .venv/bin/python bench/bounces.py --messages 2000

Builds N messages by varying the test corpus (tests/bounce_corpus: DSNs, text
bounces of many MTAs, ARF reports, auto-replies, garbage) — each copy gets its own
recipient address and delivery id, and every fifth copy our genuine VERP address,
so the MAC check runs too — then classifies them all in this one process and
prints one line:

    bounces: messages=N per_s=X

"Slow" would be below 500 messages/s (docs/benchmarks.md, "Targets"). Only parse.classify() is
timed: recording a bounce is a few database rows, measured by the delivery benchmarks.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def corpus(count):
    from rundbrief.outbound import verp

    sources = sorted(p for p in (ROOT / "tests/bounce_corpus").iterdir() if p.name != "expected.json")
    base = [p.read_bytes() for p in sources]
    messages = []
    for i in range(count):
        raw = base[i % len(base)]
        raw = raw.replace(b"@example.", f"{i}@example.".encode()).replace(b"bounces+", f"bounces+{i}".encode())
        if i % 5 == 0:
            raw = f"Delivered-To: {verp.return_path(i + 1, 'musterhaus.example')}\r\n".encode() + raw
        messages.append(raw)
    return messages


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")
    import django

    django.setup()
    from rundbrief.bounces.parse import classify

    messages = corpus(args.messages)
    classify(messages[0])  # import-time work (regex compilation) is not part of the rate
    started = time.perf_counter()
    bounces = sum(classify(raw).is_bounce for raw in messages)
    elapsed = time.perf_counter() - started
    print(f"bounces: messages={len(messages)} per_s={len(messages) / elapsed:.0f}", flush=True)
    assert bounces > len(messages) // 2, "the varied corpus should still be mostly bounces"


if __name__ == "__main__":
    main()
