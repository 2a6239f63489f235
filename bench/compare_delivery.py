"""Delivery against the raw-smtplib ceiling, interleaved in one run, medians of --runs runs.

    python bench/compare_delivery.py --recipients 10000 --runs 3
prints one line per run of each benchmark, then
`compare_delivery: raw=X raw_pipelined=P none=Y (ratios) rsa=Z (ratios) peak_rss_mb=M`.
raw is plain smtplib (four round trips a message), the ceiling the targets are stated against; raw_pipelined
sends the same message with the two round trips the delivery engine uses, the fairer ceiling.
Targets (docs/benchmarks.md, "Targets"): rsa ≥ 0.4 × raw, none ≥ 0.7 × raw, both with 2 workers against smtp-sink.
"""

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script, *args):
    out = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True, check=True).stdout
    line = out.strip().splitlines()[-1]
    print(line, flush=True)
    return line


def field(line, name):
    return float(re.search(rf"{name}=([0-9.]+)", line).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rates = {"raw": [], "raw_pipelined": [], "none": [], "rsa": []}
    rss = []
    for _ in range(args.runs):
        rates["raw"].append(
            field(run("raw_smtp.py", "--messages", str(args.recipients), "--connections", "4"), "msgs_per_s")
        )
        rates["raw_pipelined"].append(
            field(
                run("raw_smtp.py", "--messages", str(args.recipients), "--connections", "4", "--pipelining"),
                "msgs_per_s",
            )
        )
        for dkim in ("none", "rsa"):
            line = run(
                "delivery.py", "--recipients", str(args.recipients), "--workers", str(args.workers), "--dkim", dkim
            )
            rates[dkim].append(field(line, "msgs_per_s"))
            rss.append(field(line, "peak_rss_mb"))
    med = {k: statistics.median(v) for k, v in rates.items()}
    pipe = med["raw_pipelined"]
    print(
        f"compare_delivery: recipients={args.recipients} runs={args.runs} raw={med['raw']:.0f} raw_pipelined={pipe:.0f} "
        f"none={med['none']:.0f} ({med['none'] / med['raw']:.2f}x raw, {med['none'] / pipe:.2f}x pipelined) "
        f"rsa={med['rsa']:.0f} ({med['rsa'] / med['raw']:.2f}x raw, {med['rsa'] / pipe:.2f}x pipelined) "
        f"peak_rss_mb={max(rss):.0f}"
    )


if __name__ == "__main__":
    main()
