"""What bench/soak.py reads from PostgreSQL: the longest claim and flush transactions while it runs,
and after it the tables' and indexes' sizes, dead tuples, autovacuum runs and the slowest statements.

Claim and flush are told apart by their SQL: the claim is db/queue.py's `UPDATE … WHERE id IN (SELECT
… FOR UPDATE SKIP LOCKED)`, the flush delivery/store.py's `record` (`attempts = attempts + …`).
"""

import re
import threading
from collections import Counter


class ActivityWatch(threading.Thread):
    """Four times a second, the oldest open claim and flush transaction (pg_stat_activity): a sampled
    lower bound, to the quarter second, of the longest; pg_stat_statements adds the statements' own."""

    def __init__(self):
        super().__init__(daemon=True)
        self.longest = {"claim": 0.0, "flush": 0.0}
        self.stop = threading.Event()

    def run(self):
        from django.db import connection

        sql = (
            "SELECT query, EXTRACT(EPOCH FROM now() - xact_start) FROM pg_stat_activity "
            "WHERE state <> 'idle' AND xact_start IS NOT NULL AND query LIKE 'UPDATE %%delivery_delivery%%'"
        )
        while not self.stop.wait(0.25):
            with connection.cursor() as cursor:
                cursor.execute(sql)
                for query, seconds in cursor.fetchall():
                    kind = statement_kind(query)
                    if kind:
                        self.longest[kind] = max(self.longest[kind], float(seconds))
        connection.close()


def statement_kind(query):
    if "IN (SELECT" in query:
        return "claim"  # db/queue.py JobQueue.claim
    if "attempts = attempts +" in query:
        return "flush"  # delivery/store.py record
    return None


def database_report(campaign_id):
    """Sizes, dead tuples, autovacuum runs and the slowest delivery statements, as printable lines and a dict."""
    from django.db import connection

    lines, facts = [], {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, pg_total_relation_size(relid), pg_relation_size(relid), pg_indexes_size(relid), "
            "n_live_tup, n_dead_tup, autovacuum_count, autoanalyze_count FROM pg_stat_user_tables "
            "ORDER BY pg_total_relation_size(relid) DESC LIMIT 8"
        )
        facts["tables"] = []
        for name, total, heap, index, live, dead, vacuums, analyzes in cursor.fetchall():
            facts["tables"].append(
                dict(
                    name=name,
                    total=total,
                    heap=heap,
                    indexes=index,
                    live=live,
                    dead=dead,
                    autovacuum=vacuums,
                    autoanalyze=analyzes,
                )
            )
            lines.append(
                f"table {name}: total {total / 2**20:.1f} MB (heap {heap / 2**20:.1f}, indexes {index / 2**20:.1f}), "
                f"live {live}, dead {dead}, autovacuum {vacuums}, autoanalyze {analyzes}"
            )
        # The ledger is one table, or (PostgreSQL, docs/delivery.md) one partition per campaign under a
        # parent that holds nothing itself: its size is the sum over the leaves of pg_partition_tree.
        cursor.execute(
            "SELECT sum(pg_total_relation_size(relid)), sum(pg_relation_size(relid)), sum(pg_indexes_size(relid)), "
            "count(*) FROM pg_partition_tree('delivery_delivery') WHERE isleaf"
        )
        total, heap, index, leaves = cursor.fetchone()
        facts["ledger"] = dict(total=int(total), heap=int(heap), indexes=int(index), leaves=leaves)
        lines.append(
            f"delivery ledger ({leaves} table(s)): total {total / 2**20:.1f} MB "
            f"(heap {heap / 2**20:.1f}, indexes {index / 2**20:.1f})"
        )
        cursor.execute(
            "SELECT relname || '.' || indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
            "WHERE relname LIKE 'delivery\\_delivery%%' AND pg_relation_size(indexrelid) > 8192 ORDER BY 2 DESC"
        )
        facts["delivery_indexes"] = dict(cursor.fetchall())
        lines.append(
            "delivery indexes: " + ", ".join(f"{k} {v / 2**20:.1f} MB" for k, v in facts["delivery_indexes"].items())
        )
        cursor.execute("SELECT count(*) FROM delivery_delivery WHERE campaign_id = %s", [campaign_id])
        facts["delivery_rows"] = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")
        facts["statements"] = {}
        if cursor.fetchone()[0]:
            cursor.execute(
                "SELECT query, calls, max_exec_time, mean_exec_time FROM pg_stat_statements "
                "WHERE query LIKE 'UPDATE %%delivery_delivery%%'"
            )
            for query, calls, worst, mean in cursor.fetchall():
                kind = statement_kind(query)
                if kind and worst > facts["statements"].get(kind, {}).get("max_ms", -1):
                    facts["statements"][kind] = {"calls": calls, "max_ms": round(worst, 1), "mean_ms": round(mean, 2)}
            for kind, s in facts["statements"].items():
                lines.append(f"statement {kind}: {s['calls']} calls, max {s['max_ms']} ms, mean {s['mean_ms']} ms")
    return lines, facts


def lock_waits(server_log):
    """Lock waits longer than deadlock_timeout (log_lock_waits) and deadlocks, counted by the statement
    that waited (for a deadlock: the one PostgreSQL aborted)."""
    waited, pending = Counter(), None
    for line in open(server_log, errors="replace"):
        if "still waiting for" in line:
            pending = "lock wait > deadlock_timeout on " + re.search(r"still waiting for (\w+)", line).group(1)
        elif "ERROR:  deadlock detected" in line:
            pending = "DEADLOCK, aborted"
        elif pending and "STATEMENT:" in line:
            waited[(pending, line.split("STATEMENT:", 1)[1].strip()[:90])] += 1
            pending = None
    return [f"{what}: {n} × {statement}" for (what, statement), n in waited.most_common(6)] or [
        "lock waits > deadlock_timeout, deadlocks: none"
    ]
