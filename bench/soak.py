"""A campaign to N subscribers on PostgreSQL while the world moves, workers are killed, and nothing breaks.

    .venv/bin/python bench/soak.py --subscribers 1000000            # the full run (~15 min on a quiet machine)
    .venv/bin/python bench/soak.py --subscribers 20000 --kill-every 10 --charts docs/img/soak-small

Starts a throw-away PostgreSQL 15 cluster (scripts/pg-cluster.sh; --database-url for an existing,
empty database), fills it with N confirmed subscribers in one INSERT … SELECT (bench/schedule.py's
`fill`), and starts, all on 127.0.0.1:
- the recording sink (bench/soak_sink.py), which logs who got which Message-ID and when;
- gunicorn with the product, on the same database, and the load generator against it
  (bench/soak_load.py): sign-ups, one-click withdrawals and erasures at fixed rates;
- --workers `rundbrief deliver` processes as two "hosts" (worker ids hostA:1, hostB:1, hostA:2, …),
  each in its own process group. Then a campaign to everyone is scheduled for now, the normal way:
  a worker starts it (snapshot) and all of them send.
Every --kill-every seconds one worker (in turn) is killed with SIGKILL and started again under the
same worker id. Every 2 s the sink's rate and each worker's RSS are sampled; four times a second
pg_stat_activity, for the longest claim and flush transaction in progress. When no row is left to
send the load stops, and the script reports PostgreSQL's table and index sizes, dead tuples and
autovacuum runs, pg_stat_statements' slowest claim and flush statements, the invariants
(bench/soak_check.py) and two charts. Last line:

    soak: subscribers=N workers=W seconds=S msgs_per_s=X kills=K extra_copies=E max_rss_mb=M invariants=ok

Exits 1 when an invariant fails, naming it. Slow would mean: the million-subscriber run taking longer
than 30 minutes, or a worker's RSS growing with time (docs/benchmarks.md, "Targets").
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import soak_check  # noqa: E402
from bench.soak_db import ActivityWatch, database_report, lock_waits  # noqa: E402
from bench.soak_load import ERASE, SIGNUP, WITHDRAW, Load  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

BODY = (
    "## Gold im Fokus\n\n"
    + (
        "Der Goldpreis hat sich in dieser Woche in einer engen Spanne bewegt. Anlegerinnen und Anleger achten "
        "auf die Zinssignale der Notenbanken und auf die Nachfrage zum Jahresende.\n\n"
    )
    * 70
)  # about 15 KB of mail, as in bench/delivery.py
# log_lock_waits: a statement waiting for a lock longer than deadlock_timeout is logged, with what it waited for.
PG_OPTIONS = (
    "-c shared_buffers=1GB -c max_wal_size=8GB -c shared_preload_libraries=pg_stat_statements "
    "-c log_lock_waits=on -c deadlock_timeout=200ms -c log_autovacuum_min_duration=0"
)


def spawn(command, log_path, env):
    """A child in its own process group (so a kill reaches it and nothing else), output to log_path."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def rss_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def cpu_seconds(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return 0.0


def prepare(args):
    """Migrate, fill, the campaign (a draft) and an erase-scope API token."""
    from django.core.management import call_command

    from bench.schedule import fill
    from rundbrief.api.actions import issue_api_token
    from rundbrief.campaigns.models import Campaign

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    finance, _offers = fill(args.subscribers)  # every subscriber has finance; every third also offers
    print(f"filled {args.subscribers} subscribers in {time.perf_counter() - started:.1f} s", flush=True)
    campaign = Campaign.objects.create(
        name="Soak", subject="Marktbericht", from_email="newsletter@musterhaus.example", body=BODY
    )
    campaign.topics.set([finance])
    _record, token = issue_api_token("soak-eraser", ["erase"])
    return campaign, token


class Sampler(threading.Thread):
    """Every 2 s: campaign messages at the sink (rate), each worker's VmRSS, the sink's CPU."""

    def __init__(self, sink_log, sink_pid, workers, t0):
        super().__init__(daemon=True)
        self.sink_log, self.sink_pid, self.workers, self.t0 = sink_log, sink_pid, workers, t0
        self.samples, self.sent, self.offset = [], 0, 0
        self.sink_cpu_max = 0.0
        self.stop = threading.Event()

    def run(self):
        last_t, last_sent, last_cpu = time.time(), 0, cpu_seconds(self.sink_pid)
        while not self.stop.wait(2.0):
            with open(self.sink_log, "rb") as log:  # only complete lines: the sink writes in blocks
                log.seek(self.offset)
                chunk = log.read()
            chunk = chunk[: chunk.rfind(b"\n") + 1]
            self.offset += len(chunk)
            self.sent += chunk.count(b" <rb.")
            now, cpu = time.time(), cpu_seconds(self.sink_pid)
            self.sink_cpu_max = max(self.sink_cpu_max, (cpu - last_cpu) / (now - last_t))
            rss = {name: rss_mb(p.pid) for name, p in self.workers.items()}
            self.samples.append(
                {
                    "t": round(now - self.t0, 2),
                    "rate": (self.sent - last_sent) / (now - last_t),
                    "rss": {k: round(v, 1) for k, v in rss.items() if v is not None},
                }
            )
            last_t, last_sent, last_cpu = now, self.sent, cpu


def open_rows(campaign_id):
    from rundbrief.delivery.models import Delivery

    return Delivery.objects.filter(campaign_id=campaign_id, state__in=["queued", "sending"]).count()


def main():  # noqa: C901 — one run, told top to bottom
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=4, help="deliver processes, alternating over two hosts")
    parser.add_argument("--concurrency", type=int, default=2, help="SMTP connections per worker")
    parser.add_argument("--kill-every", type=float, default=60, help="seconds between SIGKILLs; 0: none")
    parser.add_argument("--signups-per-s", type=float, default=50)
    parser.add_argument("--withdrawals-per-s", type=float, default=20)
    parser.add_argument("--erasures-per-s", type=float, default=1)
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn's sync workers for the load")
    parser.add_argument("--database-url", default="", help="an existing, empty database; default: a fresh cluster")
    parser.add_argument("--pg-options", default=PG_OPTIONS, help="server settings for the fresh cluster")
    parser.add_argument("--charts", default="docs/img/soak", help="PNG prefix: PREFIX-rate.png, PREFIX-rss.png")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs, ledger, sink log, cluster)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="rundbrief-soak-"))
    folder.chmod(0o755)  # as root the cluster belongs to the postgres user, who must reach its directory
    processes, cluster = [], None
    try:
        database_url = args.database_url
        if not database_url:
            cluster = folder / "pg"
            database_url = subprocess.run(
                ["bash", "scripts/pg-cluster.sh", "start", str(cluster)],
                cwd=ROOT,
                env=dict(os.environ, PG_EXTRA_OPTIONS=args.pg_options),
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            database_url = database_url.rsplit("/", 1)[0] + "/postgres"  # the fresh cluster's one database
        sink_log, ready = folder / "sink.log", folder / "sink.port"
        sink = spawn(
            [sys.executable, "bench/soak_sink.py", "--log", str(sink_log), "--ready", str(ready)],
            folder / "sink.out",
            os.environ,
        )
        processes.append(sink)
        web_port = free_port()
        env = dict(
            os.environ,
            DATABASE_URL=database_url,
            DJANGO_SETTINGS_MODULE="rundbrief.settings",
            PYTHONPATH=str(ROOT),
            RUNDBRIEF_VAR_DIR=str(folder / "var"),
            SITE_URL=f"http://127.0.0.1:{web_port}",
            RUNDBRIEF_LOG_LEVEL="WARNING",
            RUNDBRIEF_SIGNUP_PROCESSING="worker",  # the production set-up: the deliver workers mail the sign-ups
            RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE="1000000000",  # every request comes from 127.0.0.1
            RUNDBRIEF_SIGNUP_GLOBAL_PER_MINUTE="1000000000",
        )
        for _ in range(100):
            if ready.exists() and ready.read_text():
                break
            time.sleep(0.1)
        env["SMTP_URL"] = env["DELIVERY_SMTP_URLS"] = f"smtp://127.0.0.1:{ready.read_text()}"
        os.environ.update(env)
        import django

        django.setup()
        from django.conf import settings
        from django.db import connection

        from rundbrief.campaigns.actions import schedule_campaign
        from rundbrief.campaigns.models import Campaign

        if connection.vendor != "postgresql":
            raise SystemExit("the soak runs on PostgreSQL: --database-url postgres://…, or no flag for a fresh cluster")
        if cluster:  # preloaded by PG_OPTIONS; an existing database may not offer it (then: no statement figures)
            with connection.cursor() as cursor:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        campaign, token = prepare(args)
        web = spawn(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(args.web_workers),
                "--bind",
                f"127.0.0.1:{web_port}",
                "--log-level",
                "warning",
                "rundbrief.wsgi",
            ],
            folder / "gunicorn.log",
            env,
        )
        processes.append(web)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{env['SITE_URL']}/api/v1/subscriptions", timeout=5)
            except urllib.error.HTTPError:
                break  # 405 for a GET: Django answers
            except OSError:
                time.sleep(0.2)

        names = [f"host{'AB'[i % 2]}:{i // 2 + 1}" for i in range(args.workers)]
        deliver = [sys.executable, "-m", "rundbrief", "deliver", "--concurrency", str(args.concurrency), "--worker-id"]
        workers = {
            name: spawn([*deliver, name], folder / f"worker-{name.replace(':', '-')}.log", env) for name in names
        }
        connection.close()  # the threads below open their own

        t0 = time.time()
        sampler = Sampler(sink_log, sink.pid, workers, t0)
        watch = ActivityWatch()
        rates = {SIGNUP: args.signups_per_s, WITHDRAW: args.withdrawals_per_s, ERASE: args.erasures_per_s}
        load = Load(
            env["SITE_URL"],
            folder / "ledger.log",
            subscribers=args.subscribers,
            rates=rates,
            erase_token=token,
            front=lambda: sampler.sent,
        )
        sampler.start()
        watch.start()
        load.start()
        schedule_campaign(campaign, actor="soak")  # due now: the first worker to look starts it
        print(f"campaign scheduled; run folder {folder}", flush=True)

        kills, next_kill, turn = [], t0 + args.kill_every, 0
        while True:
            time.sleep(1)
            campaign.refresh_from_db()
            if campaign.state in (Campaign.State.FINISHED, Campaign.State.PAUSED, Campaign.State.CANCELLED):
                break
            if campaign.state == Campaign.State.SENDING and open_rows(campaign.pk) == 0:
                break
            for name, process in list(workers.items()):
                if process.poll() is not None:  # died by itself: a finding; counted as a kill for the bound
                    kills.append((round(time.time() - t0, 2), f"{name} exited {process.returncode}"))
                    print(
                        f"{kills[-1][0]:.0f} s: {name} EXITED BY ITSELF ({process.returncode}); started again",
                        flush=True,
                    )
                    workers[name] = spawn([*deliver, name], folder / f"worker-{name.replace(':', '-')}.log", env)
                    sampler.workers = dict(workers)
            if args.kill_every and time.time() >= next_kill:
                name = names[turn % len(names)]
                os.killpg(workers[name].pid, signal.SIGKILL)  # its process group only: the worker we started
                workers[name].wait()
                kills.append((round(time.time() - t0, 2), name))
                workers[name] = spawn([*deliver, name], folder / f"worker-{name.replace(':', '-')}.log", env)
                sampler.workers = dict(workers)
                next_kill, turn = next_kill + args.kill_every, turn + 1
                print(
                    f"{kills[-1][0]:.0f} s: killed {name} (SIGKILL) and started it again; {sampler.sent} sent",
                    flush=True,
                )
        seconds = time.time() - t0
        load.close()
        for process in workers.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in workers.values():
            process.wait(60)
        time.sleep(2.5)  # the sampler's last look, and the sink's last flush of its log
        sampler.stop.set()
        watch.stop.set()
        sampler.join()
        watch.join()
        os.kill(sink.pid, signal.SIGTERM)
        sink.wait(30)

        print(f"campaign {campaign.state} after {seconds:.0f} s")
        for line in load.summary(seconds):
            print(line)
        print(f"load: {load.late} requests started more than 1 s late (the generator or the server fell behind)")
        lines, facts = database_report(campaign.pk)
        for line in lines:
            print(line)
        print(
            f"longest open transaction seen (pg_stat_activity every 0.25 s): claim {watch.longest['claim']:.2f} s, flush {watch.longest['flush']:.2f} s"
        )
        if cluster:
            for line in lock_waits(cluster / "server.log"):
                print(line)
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM delivery_delivery WHERE campaign_id = %s AND state = 'sent'", [campaign.pk])
            (folder / "sent_ids.txt").write_text("\n".join(str(r[0]) for r in cursor.fetchall()))
        bound = settings.DELIVERY_DUPLICATE_BOUND
        (folder / "facts.json").write_text(
            json.dumps({"subscribers": args.subscribers, "kills": len(kills), "bound": bound})
        )
        results = soak_check.check_folder(folder)
        holds = soak_check.report(results)
        sent = sum(1 for _ in open(sink_log) if " <rb." in _)
        peaks = [max(s["rss"].values()) for s in sampler.samples if s["rss"]]
        summary = dict(
            facts,
            samples=sampler.samples,
            kills=kills,
            seconds=seconds,
            sink_messages=sent,
            longest=watch.longest,
            sink_cpu_max=sampler.sink_cpu_max,
        )
        (folder / "summary.json").write_text(json.dumps(summary, indent=1))
        if args.charts:
            from bench.soak_charts import draw

            Path(args.charts).parent.mkdir(parents=True, exist_ok=True)
            for path in draw(sampler.samples, kills, args.charts, f"soak, {args.subscribers:,} subscribers"):
                print(f"chart: {path}")
        extra = sum(len(c) - 1 for c in soak_check.read_sink(sink_log).values())
        rows = max(1, facts["delivery_rows"])
        print(
            f"sink CPU at most {100 * sampler.sink_cpu_max:.0f} % of a core; bytes per delivery row: "
            f"{facts['ledger']['total'] / rows:.0f} with indexes, {facts['ledger']['heap'] / rows:.0f} heap"
        )
        print(
            f"soak: subscribers={args.subscribers} workers={args.workers} seconds={seconds:.0f} msgs_per_s={sent / seconds:.0f} "
            f"kills={len(kills)} extra_copies={extra} max_rss_mb={max(peaks, default=0):.0f} "
            f"invariants={'ok' if holds else 'FAIL'}"
        )
        return 0 if holds else 1
    finally:
        for process in processes + list(locals().get("workers", {}).values()):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)
        if cluster:
            subprocess.run(["bash", "scripts/pg-cluster.sh", "stop", str(cluster)], cwd=ROOT, check=False)
        if args.keep:
            print(f"kept: {folder} (restart the cluster with pg_ctl -D {folder}/pg/data start)")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
