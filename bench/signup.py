"""Sign-up API under load, beside a bare Django view of the same stack, in one run.

    .venv/bin/python bench/signup.py [--seconds 10] [--connections 4] [--runs 3]

Needs wrk (Debian: `apt-get install -y wrk`) and Postfix's smtp-sink (`apt-get install -y postfix`).
Starts on a fresh SQLite database (or --database-url, a throw-away one) two gunicorns with 2 sync
workers each: the product (`rundbrief.wsgi`) and the baseline (settings bench.bare_settings, whose
URLconf bench/bare_urls.py answers the same POST with "ok" after the same middleware). wrk POSTs
to /api/v1/subscriptions with a new address on every request (bench/signup.lua); the double-opt-in
mail goes to smtp-sink. The sign-up rate limits are raised for the run (still counted, never hit):
RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE and RUNDBRIEF_SIGNUP_GLOBAL_PER_MINUTE = 1,000,000,000.
Baseline and sign-up are loaded one after the other, `--runs` times; medians are printed:

    signup: rps=X p99_ms=Y baseline_rps=Z sustained_rps=S cpu_ms=C baseline_cpu_ms=B

rps and p99 are wrk's. A sign-up is answered before it is applied and mailed (docs/decisions.md,
"Sign-up intake"), so after each run the script waits until the intake is empty: sustained_rps
counts that time too. cpu_ms is the CPU of the product's processes (gunicorn and, with
--processing worker, the delivery worker that sends the mail) per sign-up, baseline_cpu_ms that
of the bare gunicorn per request: a steadier comparison than rates on a shared machine.

Slow would mean: rps below 0.5 × baseline_rps, or p99 above 50 ms (docs/benchmarks.md, "Targets").
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._common import SmtpSink, temp_sqlite_url  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

LUA = ROOT / "bench" / "signup.lua"
RESULT = re.compile(r"latency_p50_ms=([\d.]+) latency_p99_ms=([\d.]+) requests=(\d+) non2xx_or_errors=(\d+)")


def gunicorn(settings_module, env):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "rundbrief.wsgi",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": settings_module},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # ready once a worker has imported Django and answers
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/subscriptions", timeout=5)
            return process, port
        except urllib.error.HTTPError:  # 405 for a GET: Django answered
            return process, port
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"gunicorn ({settings_module}) did not start")


def wait_for_backlog(database_url, timeout=300):
    """Seconds until every accepted sign-up is applied and mailed (rundbrief/audience/intake.py):
    the answer comes before that work, so a rate that leaves a growing backlog would flatter."""
    started = time.monotonic()
    code = (
        "from rundbrief.audience.models import SignupIntake as S; import time, sys\n"
        f"end = time.monotonic() + {timeout}\n"
        "while S.objects.exists() and time.monotonic() < end: time.sleep(0.05)\n"
        "sys.exit(1 if S.objects.exists() else 0)"
    )
    env = dict(os.environ, DATABASE_URL=database_url, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="rundbrief.settings")
    subprocess.run([sys.executable, "-c", f"import django; django.setup()\n{code}"], env=env, check=True, cwd=ROOT)
    return time.monotonic() - started


def cpu_seconds(pids):
    """User + system CPU of these processes and their children (gunicorn's workers), from /proc."""
    total, seen, todo = 0, set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
            todo += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def load(port, seconds, connections, prefix):
    url = f"http://127.0.0.1:{port}/api/v1/subscriptions"
    out = subprocess.run(
        [
            "wrk",
            "--threads",
            "1",
            "--connections",
            str(connections),
            "--duration",
            f"{seconds}s",
            "--latency",
            "--script",
            str(LUA),
            url,
            "--",
            prefix,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    p50, p99, requests, errors = RESULT.search(out).groups()
    if int(errors):
        raise SystemExit(f"{errors} requests failed or were not 2xx:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rps, float(p99), float(p50), int(requests)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (concurrent requests)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--processing",
        choices=["web", "worker"],
        default="worker",
        help="RUNDBRIEF_SIGNUP_PROCESSING: who applies sign-ups and sends their mail (default: a "
        "`rundbrief deliver` process beside the web workers)",
    )
    parser.add_argument(
        "--database-url", default="", help="a throw-away database; default: SQLite in a temporary folder"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    database_url, folder = temp_sqlite_url()
    env = dict(
        os.environ,
        DATABASE_URL=args.database_url or database_url,
        RUNDBRIEF_VAR_DIR=str(folder),
        RUNDBRIEF_LOG_LEVEL="WARNING",
        RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE="1000000000",
        RUNDBRIEF_SIGNUP_GLOBAL_PER_MINUTE="1000000000",
        PYTHONPATH=str(ROOT),
        RUNDBRIEF_SIGNUP_PROCESSING=args.processing,
    )
    subprocess.run([sys.executable, "-m", "rundbrief", "migrate", "--verbosity", "0"], env=env, check=True, cwd=ROOT)
    with SmtpSink() as sink:
        env["SMTP_URL"] = f"smtp://127.0.0.1:{sink.port}"
        servers = []
        try:
            product, product_port = gunicorn("rundbrief.settings", env)
            servers.append(product)
            bare, bare_port = gunicorn("bench.bare_settings", env)
            servers.append(bare)
            if args.processing == "worker":  # the production set-up: a delivery worker sends the mail
                servers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "rundbrief", "deliver", "--concurrency", "1"],
                        cwd=ROOT,
                        env=env,
                        stdout=subprocess.DEVNULL,
                    )
                )
            load(bare_port, 3, args.connections, "warm-bare")  # both workers: imports, connections, caches
            load(product_port, 3, args.connections, "warm")
            results, baselines, sustained, signup_cpu, bare_cpu = [], [], [], [], []
            product_pids = [product.pid] + [p.pid for p in servers[2:]]  # and the delivery worker
            for run in range(args.runs):
                cpu = cpu_seconds([bare.pid])
                baselines.append(load(bare_port, args.seconds, args.connections, f"bare{run}")[0])
                bare_cpu.append((cpu_seconds([bare.pid]) - cpu) / (baselines[-1] * args.seconds) * 1000)
                cpu = cpu_seconds(product_pids)
                results.append(load(product_port, args.seconds, args.connections, f"run{run}"))
                backlog_s = wait_for_backlog(env["DATABASE_URL"])
                # CPU of the web workers and the worker per sign-up, the mail included: steadier than rates
                # on a shared machine.
                signup_cpu.append((cpu_seconds(product_pids) - cpu) / results[-1][3] * 1000)
                # Every sign-up of the run applied and its mail sent: requests over load + remaining time.
                sustained.append(results[-1][3] / (args.seconds + backlog_s))
                print(
                    f"run {run + 1}: signup rps={results[-1][0]:.0f} p50_ms={results[-1][2]:.1f} "
                    f"p99_ms={results[-1][1]:.1f} baseline_rps={baselines[-1]:.0f} "
                    f"backlog_s={backlog_s:.1f} sustained_rps={sustained[-1]:.0f} "
                    f"cpu_ms={signup_cpu[-1]:.2f} baseline_cpu_ms={bare_cpu[-1]:.2f}"
                )
        finally:
            for process in servers:
                process.terminate()
                process.wait(10)
    shutil.rmtree(folder, ignore_errors=True)
    rps = statistics.median(r[0] for r in results)
    p99 = statistics.median(r[1] for r in results)
    print(
        f"signup: rps={rps:.0f} p99_ms={p99:.1f} baseline_rps={statistics.median(baselines):.0f} "
        f"sustained_rps={statistics.median(sustained):.0f} cpu_ms={statistics.median(signup_cpu):.2f} "
        f"baseline_cpu_ms={statistics.median(bare_cpu):.2f}"
    )


if __name__ == "__main__":
    main()
