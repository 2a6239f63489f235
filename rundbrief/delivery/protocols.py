"""What the delivery engine needs from the world, declared: a RecipientStore and a Messenger.

The engine (engine.py) depends only on these: it knows nothing of SQL or SMTP, so both can be
replaced by fakes in tests (tests/test_delivery_engine_fakes.py). The real ones are
store.DjangoRecipientStore (the Delivery ledger, claims under a lease) and
messenger.SmtpMessenger (messages compiled once per campaign, sent over pooled SMTP connections).

The words the engine and the store exchange are enums, not loose strings: a `Verdict` is the consent
check's answer for a row; a `Disposition` is what becomes of the row when its outcome is recorded.
Their values that name a final state are the Delivery.State values the store writes.
"""

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Verdict(StrEnum):
    """May this row be sent now? The consent check's answer, and the guard's answer to a sender."""

    OK = "ok"
    WITHDRAWN = "skipped_withdrawn"  # no longer confirmed, or no longer subscribed to a campaign topic
    SUPPRESSED = "skipped_suppressed"  # the address is on the suppression list
    UNKNOWN = "unknown"  # not checked yet (or no longer watched)
    LOST = "lost"  # our lease ran out and another worker may hold the row
    HALTED = "halted"  # the campaign stopped sending, or the worker is stopping


class Disposition(StrEnum):
    """What the record stage does with a row."""

    SENT = "sent"
    FAILED = "failed"
    SKIPPED_WITHDRAWN = "skipped_withdrawn"
    SKIPPED_SUPPRESSED = "skipped_suppressed"
    RETRY = "retry"  # queued again, due at retry_at; the attempt counts towards the limit
    RELEASE = "release"  # queued again at once; nothing was tried (halted, no rate token, lease lost)


# A negative consent verdict is final for the row: it is skipped, and says why.
SKIPPED = {Verdict.WITHDRAWN: Disposition.SKIPPED_WITHDRAWN, Verdict.SUPPRESSED: Disposition.SKIPPED_SUPPRESSED}


class ReplyKind(StrEnum):
    """How an SMTP reply counts: 2xx sent, 5xx permanent, anything else worth another try."""

    SENT = "sent"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Claimed:
    """A delivery row the store handed to this worker under a lease."""

    delivery_id: int
    campaign_id: int
    subscriber_id: int | None
    email: str
    public_id: str
    attempts: int = 0
    address_hash: str = ""  # subject_hash(email), computed once at claim time; the guard re-checks often
    language: str = ""  # the subscriber's: the copy's layout, footer and links are in it ("" = the default)


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    state: Disposition
    reply: str = ""
    retry_at: dt.datetime | None = None
    attempted: bool = True  # an SMTP transaction was tried (counts towards the attempt limit)


class Reply(Protocol):
    """An SMTP server's answer to one transaction."""

    kind: str  # a ReplyKind value
    code: int

    def __str__(self) -> str: ...


class Limit(Protocol):
    """A rate limit a sender takes a token from before each transaction (ratelimit.py)."""

    def acquire(self, stop: threading.Event) -> bool:
        """True with a token; False if `stop` was set while waiting (then nothing may be sent)."""


class RecipientStore(Protocol):
    """The Delivery ledger and the campaign states, as the engine sees them (store.DjangoRecipientStore).

    Its methods are called from the main loop, the guard thread and (close) the sender threads."""

    # Errors meaning "the database is away for now": the engine keeps its outcomes, waits, and goes on.
    unavailable: tuple[type[Exception], ...]

    def close(self) -> None:
        """The calling thread is done for now: close its database connection (the next call reconnects)."""

    def recover(self) -> None:
        """After an error: drop the calling thread's connection if it is broken."""

    def start_due_campaigns(self) -> None:
        """Scheduled campaigns whose time has come start sending."""

    def finish_done_campaigns(self) -> None:
        """Sending campaigns with no queued or sending rows left are finished."""

    def claim(self, limit: int) -> list[Claimed]:
        """Up to `limit` due rows of sending campaigns, atomically, under a lease for this worker."""

    def consent_check(self, claimed: list[Claimed], topics_by_campaign: dict) -> dict[int, Verdict]:
        """Delivery id → OK, WITHDRAWN or SUPPRESSED, from the data as it is now."""

    def renew_leases(self, delivery_ids: list[int]) -> None:
        """Extend the lease of the rows this worker still holds."""

    def lease_left(self, delivery_ids: list[int]) -> dict[int, float]:
        """Seconds of lease left per row this worker still holds; rows it lost are absent."""

    def record(self, outcomes: list[Outcome]) -> None:
        """Write the outcomes of rows this worker still holds."""

    def campaign_states(self, campaign_ids) -> dict[int, str]:
        """Campaign id → its state now ("sending", "paused", …)."""

    def campaign_topics(self, campaign_id: int) -> list[int]:
        """The topic ids whose subscribers the campaign may reach."""

    def pause(self, campaign_id: int, reason: str) -> None:
        """Pause a sending campaign, with the reason shown to the operator."""

    def has_open_work(self) -> bool:
        """Rows that will still be sent (now, later, or once a dead worker's lease runs out)."""

    def next_wakeup(self) -> dt.datetime | None:
        """The earliest moment a row becomes due, or None."""


class Messenger(Protocol):
    """Builds a claimed row's message and sends it (messenger.SmtpMessenger).

    Messages are sent on lanes: one per sender thread, each with its own connection. A lane serves
    one from-domain (a relay with that domain's DKIM/SPF), or every domain when its name is "".
    """

    def lanes(self) -> Sequence[str]:
        """The from-domain of each lane ("" for any); one sender thread runs per lane."""

    def limits(self, lane: int) -> Sequence[Limit]:
        """The lane's transport rate limits, shortest window last."""

    def from_domain(self, campaign_id: int) -> str:
        """The domain the campaign's mail comes from, which picks its lanes."""

    def build(self, claimed: Claimed) -> object:
        """The row's message, ready to send (opaque to the engine)."""

    def send(self, lane: int, message: object, before_transaction: Callable[[], Verdict | None]) -> Reply | Verdict:
        """One transaction on the lane. `before_transaction` runs right before it starts (MAIL FROM);
        a Verdict it returns cancels the transaction and is returned as is."""

    def close(self, lane: int) -> None:
        """Close the lane's connection (its sender thread ends)."""
