"""A table as a durable queue of leased jobs: claim under a lease, retry with back-off, give up after N.

Two queues use it: the delivery ledger (delivery/store.py, one row per message of a campaign) and
the sign-up intake's confirmation mails (audience/confirmations.py). The design is in docs/delivery.md,
"Claims, leases and retries".

- Claim: one `UPDATE … WHERE id IN (SELECT id … ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED)
  RETURNING …` per partition (e.g. per sending campaign) and per kind of due row. On PostgreSQL
  SKIP LOCKED lets any number of claimers on any number of hosts take disjoint batches without
  waiting for each other; SQLite has no row locks, but its transactions begin IMMEDIATE
  (settings.py, rundbrief/db/sqlite3/), which serialises the claimers.
- Lease: a claimed row is held until its lease runs out. The holder may renew it while it works;
  a holder that dies leaves the lease to run out and the row to be claimed again — at least once,
  never lost.
- Retry: after the n-th failed attempt the row waits `backoff(n)` (base, 2×base, 4×base, … capped),
  and after `max_attempts` it is given up (`Retry`).

Written in SQL rather than the ORM: the delivery claim runs several times a second per worker,
and building ORM queries cost more CPU than the database did. Each statement names one partition
and one state, so it walks an index (partition, state, id) from its first due row; a single
statement with an OR across states made SQLite read and sort every row of a campaign on every
claim (docs/benchmarks.md).
"""

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction

from rundbrief.db.bulk import marks

CAP_SECONDS = 6 * 3600


def backoff(attempts: int, base: float, cap: float = CAP_SECONDS) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: base, 2×base, 4×base, … at most `cap`."""
    # The exponent is bounded so that a huge count cannot overflow the float; the cap applies long before.
    return min(base * 2.0 ** min(max(0, attempts - 1), 64), cap)


@dataclass(frozen=True)
class Retry:
    """Retry with exponential back-off; give up after `max_attempts` attempts."""

    max_attempts: int
    base_seconds: float
    cap_seconds: float = CAP_SECONDS

    def gives_up(self, attempts: int) -> bool:
        """True once `attempts` attempts (the last one included) have failed."""
        return attempts >= self.max_attempts

    def delay(self, attempts: int) -> float:
        return backoff(attempts, self.base_seconds, self.cap_seconds)

    def next_attempt_at(self, attempts: int, now: dt.datetime) -> dt.datetime | None:
        """When to try again after `attempts` failed attempts; None: give up."""
        if self.gives_up(attempts):
            return None
        return now + dt.timedelta(seconds=self.delay(attempts))


@dataclass(frozen=True)
class Partition:
    """Rows are claimed partition by partition, in the order `open_sql` lists the open ones."""

    column: str  # e.g. "campaign_id"
    open_sql: str  # a SELECT of one column: the partitions whose rows may be claimed now, in order


@dataclass(frozen=True)
class JobQueue:
    """A table whose rows are jobs, described by its columns.

    Two shapes:
    - with a `held` state (the delivery ledger): waiting rows are due when `next_attempt` is NULL
      or past; a claim moves them to `held` under a lease; held rows whose lease ran out are due
      again (a dead holder's);
    - without (the sign-up intake): rows stay in the `waiting` state and `lease` alone says when
      a row is due — the end of a claim's lease or the time of its next attempt.
    """

    table: str  # the table's name, unquoted
    state: str  # the column naming the stage of a row
    waiting: str  # its value for rows waiting for their (next) attempt
    held: str | None = None  # its value while a claimer holds the row; None: the lease alone holds it
    lease: str = "lease_until"
    next_attempt: str | None = None  # None: the lease column doubles as the next-attempt time
    attempts: str = "attempts"
    count_on_claim: bool = False  # attempts += 1 when claimed (else the caller counts them when recording)
    holder: str | None = None  # a column naming the claimer (renewals and outcomes touch only its rows)
    touched: str | None = None  # a column set to the time of the claim
    partition: Partition | None = None
    returning: tuple[str, ...] = ("id",)  # id first: the claimed rows come back in id order
    given_up: tuple[str, tuple] | None = None  # (condition, params) of rows given up, where they are kept

    @classmethod
    def of(cls, model, **columns):
        return cls(table=model._meta.db_table, **columns)

    @property
    def _quoted(self):
        return connection.ops.quote_name(self.table)

    def _dues(self):
        """(state, condition on the time) for each kind of due row, in the order they are claimed."""
        if self.next_attempt:
            waiting = f"({self.next_attempt} IS NULL OR {self.next_attempt} <= %s)"
        else:
            waiting = f"{self.lease} <= %s"
        if self.held is None:
            return ((self.waiting, waiting),)
        return ((self.held, f"{self.lease} < %s"), (self.waiting, waiting))  # dead holders' rows first

    # -- claiming ------------------------------------------------------------------------------
    def has_due(self, now) -> bool:
        """A plain read: is anything due? (Over every partition; a claim may still find nothing.)

        Worth asking first where claims are rare: on SQLite a claim takes the write lock even when
        it finds nothing."""
        at = connection.ops.adapt_datetimefield_value(now)
        with connection.cursor() as cursor:
            for state, condition in self._dues():
                cursor.execute(
                    f"SELECT 1 FROM {self._quoted} WHERE {self.state} = %s AND {condition} LIMIT 1", [state, at]
                )
                if cursor.fetchone():
                    return True
        return False

    def claim(self, limit: int, lease: dt.timedelta, now, holder: str = "") -> list[tuple]:
        """Take up to `limit` due rows under a lease until `now + lease`, in one transaction;
        returns their `returning` columns, in id order."""
        ops = connection.ops
        at = ops.adapt_datetimefield_value(now)
        assignments, values = [], []
        if self.held is not None:
            assignments.append(f"{self.state} = %s")
            values.append(self.held)
        assignments.append(f"{self.lease} = %s")
        values.append(ops.adapt_datetimefield_value(now + lease))
        if self.holder:
            assignments.append(f"{self.holder} = %s")
            values.append(holder)
        if self.touched:
            assignments.append(f"{self.touched} = %s")
            values.append(at)
        if self.count_on_claim:
            assignments.append(f"{self.attempts} = {self.attempts} + 1")
        lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
        table = self._quoted
        head = f"UPDATE {table} SET {', '.join(assignments)} WHERE id IN (SELECT id FROM {table} WHERE "
        tail = f" ORDER BY id LIMIT %s{lock}) RETURNING {', '.join(self.returning)}"
        in_partition = f"{self.partition.column} = %s AND " if self.partition else ""
        statements = [
            (f"{head}{in_partition}{self.state} = %s AND {condition}{tail}", state) for state, condition in self._dues()
        ]
        rows = []
        with transaction.atomic(), connection.cursor() as cursor:
            if self.partition:
                cursor.execute(self.partition.open_sql)
                partitions = [[p] for (p,) in cursor.fetchall()]
            else:
                partitions = [[]]
            for partition in partitions:
                for sql, state in statements:
                    want = limit - len(rows)
                    if want <= 0:
                        break
                    cursor.execute(sql, [*values, *partition, state, at, want])
                    rows.extend(cursor.fetchall())
        rows.sort()
        return rows

    # -- while holding -------------------------------------------------------------------------
    def _held_by(self, ids, holder):
        where, params = f"id IN ({marks(len(ids))})", list(ids)
        if self.holder:
            where, params = f"{where} AND {self.holder} = %s", [*params, holder]
        if self.held is not None:
            where, params = f"{where} AND {self.state} = %s", [*params, self.held]
        return where, params

    def renew(self, ids, lease: dt.timedelta, now, holder: str = ""):
        """Extend the lease of rows `holder` still holds. Only those: a row whose lease ran out may be
        another claimer's now."""
        if not ids:
            return
        where, params = self._held_by(ids, holder)
        until = connection.ops.adapt_datetimefield_value(now + lease)
        if connection.features.has_select_for_update_skip_locked:
            # Rows locked right now are being recorded by the holder's own flush, on another
            # connection, and need no longer lease. Waiting for them deadlocked: the flush locks row
            # by row while a plain UPDATE … IN locks in scan order (found by bench/soak.py).
            where = f"id IN (SELECT id FROM {self._quoted} WHERE {where} ORDER BY id FOR UPDATE SKIP LOCKED)"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {self._quoted} SET {self.lease} = %s WHERE {where}", [until, *params])

    def lease_left(self, ids, now, holder: str = "") -> dict[int, float]:
        """Seconds of lease left on each row `holder` still holds (rows it lost are absent)."""
        if not ids:
            return {}
        where, params = self._held_by(ids, holder)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, {self.lease} FROM {self._quoted} WHERE {where}", params)
            rows = cursor.fetchall()
        convert = datetime_reader()
        return {i: (convert(until) - now).total_seconds() for i, until in rows if until is not None}

    def retry_later(self, retries: list[tuple[int, dt.datetime]]):
        """Put rows back to wait for their next attempt at the given times (Retry.next_attempt_at)."""
        if not retries:
            return
        adapt = connection.ops.adapt_datetimefield_value
        if self.next_attempt:
            assignments = f"{self.state} = %s, {self.lease} = NULL, {self.next_attempt} = %s"
            params = [[self.waiting, adapt(at), row_id] for row_id, at in retries]
        else:
            assignments = f"{self.lease} = %s"
            params = [[adapt(at), row_id] for row_id, at in retries]
        if self.holder:
            assignments += f", {self.holder} = ''"
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {self._quoted} SET {assignments} WHERE id = %s", params)

    # -- metrics -------------------------------------------------------------------------------
    def counts(self, now) -> dict[str, int]:
        """Rows due now, leased (for a queue without a `held` state: leased or waiting for a retry),
        and given up (only where given-up rows are kept): one statement, a COUNT per figure."""
        at = connection.ops.adapt_datetimefield_value(now)
        table = self._quoted
        open_only = f" AND {self.partition.column} IN ({self.partition.open_sql})" if self.partition else ""
        figures, params = [], []
        for state, condition in self._dues():
            figures.append(("due", f"{self.state} = %s AND {condition}{open_only}"))
            params += [state, at]
        held, comparison = (self.held, ">=") if self.held is not None else (self.waiting, ">")
        figures.append(("leased", f"{self.state} = %s AND {self.lease} {comparison} %s{open_only}"))
        params += [held, at]
        if self.given_up:
            condition, values = self.given_up
            figures.append(("given_up", condition))
            params += list(values)
        counts = ", ".join(f"(SELECT COUNT(*) FROM {table} WHERE {where})" for _name, where in figures)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {counts}", params)
            values = cursor.fetchone()
        result = {"due": 0}
        for (name, _where), n in zip(figures, values, strict=True):
            result[name] = result.get(name, 0) + n
        return result


def datetime_reader():
    """Raw SQL hands SQLite datetimes back as text; Django's own converter parses them (PostgreSQL's
    driver already returns aware datetimes)."""
    if connection.vendor != "sqlite":
        return lambda value: value
    return lambda value: connection.ops.convert_datetimefield_value(value, None, connection)
