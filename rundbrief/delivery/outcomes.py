"""How a send attempt counts: the SMTP reply (or the verdict that called the transaction off)
becomes the row's Outcome, and the worker's Stats count them."""

from dataclasses import dataclass, field

from rundbrief.delivery.protocols import SKIPPED, Disposition, Outcome, Reply, ReplyKind, Verdict


def outcome_of(delivery_id: int, reply: Reply | Verdict) -> Outcome:
    if isinstance(reply, Verdict):  # the transaction was called off before it began
        if reply in SKIPPED:
            return Outcome(delivery_id, SKIPPED[reply], attempted=False)
        return Outcome(delivery_id, Disposition.RELEASE, attempted=False)  # halted, unknown, lost
    if reply.kind == ReplyKind.SENT:
        return Outcome(delivery_id, Disposition.SENT, str(reply))
    if reply.kind == ReplyKind.PERMANENT:
        # 5xx: final. What it means for the address is bounce handling's (Worker.on_permanent_failures).
        return Outcome(delivery_id, Disposition.FAILED, str(reply))
    return Outcome(delivery_id, Disposition.RETRY, str(reply))  # 4xx, and anything unexpected


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    by_state: dict = field(default_factory=dict)

    def count(self, outcome: Outcome):
        self.by_state[outcome.state] = self.by_state.get(outcome.state, 0) + 1
        if outcome.state == Disposition.SENT:
            self.sent += 1
        elif outcome.state == Disposition.FAILED:
            self.failed += 1
        elif outcome.state == Disposition.RETRY:
            self.retried += 1
        elif outcome.state in (Disposition.SKIPPED_WITHDRAWN, Disposition.SKIPPED_SUPPRESSED):
            self.skipped += 1
