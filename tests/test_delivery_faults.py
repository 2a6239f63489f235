"""A fault-injecting SMTP server: temporary and permanent refusals, dropped connections, stalls.

Nothing is lost: every row ends sent, or failed with the server's reply; retries back off;
a campaign that only meets failures pauses itself and says why.
"""

import pytest

from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery
from tests.support.campaigns import make_audience, scheduled_campaign
from tests.support.smtp import Faults, SmtpServer
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def states(campaign):
    return sorted(Delivery.objects.filter(campaign=campaign).values_list("state", flat=True))


def test_temporary_refusals_are_retried_until_accepted(settings, finance):
    make_audience(finance, 10)
    campaign = scheduled_campaign([finance])
    # The first six transactions meet a 451 (greylisting) or 452 (mailbox full for now).
    faults = Faults(
        on_rcpt=lambda n: "451 4.7.1 greylisted, try later" if n <= 3 else None,
        on_data=lambda n: "452 4.2.2 mailbox full" if 4 <= n <= 6 else None,
    )
    with SmtpServer(faults) as server:
        run_worker(settings, server, max_attempts=5)
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == sorted(f"leser{i}@example.org" for i in range(10))
    assert states(campaign) == ["sent"] * 10
    rows = list(Delivery.objects.filter(campaign=campaign))
    assert sum(d.attempts - 1 for d in rows) == 6  # each refused transaction cost one more attempt
    assert all(d.last_reply.startswith("250") for d in rows)


def test_a_refusal_that_never_ends_fails_after_the_attempt_limit_with_the_reply(settings, finance):
    make_audience(finance, 2)
    campaign = scheduled_campaign([finance])
    with SmtpServer(Faults(on_rcpt=lambda n: "450 4.2.1 mailbox unavailable")) as server:
        run_worker(settings, server, max_attempts=3, pause_after_failures=100)
    assert server.messages == []
    rows = list(Delivery.objects.filter(campaign=campaign))
    assert [(d.state, d.attempts) for d in rows] == [("failed", 3), ("failed", 3)]
    assert rows[0].last_reply == "450 4.2.1 mailbox unavailable"


def test_permanent_refusal_fails_at_once_and_keeps_the_reply_for_bounce_handling(settings, finance):
    make_audience(finance, 3)
    campaign = scheduled_campaign([finance])
    faults = Faults(on_rcpt=lambda n: "550 5.1.1 user unknown" if n == 1 else None)
    with SmtpServer(faults) as server:
        run_worker(settings, server, concurrency=1)
    assert len(server.messages) == 2
    rejected = Delivery.objects.get(campaign=campaign, state__in=["failed", "bounced"])
    assert rejected.attempts == 1 and rejected.last_reply == "550 5.1.1 user unknown"
    # Bounce handling took it over: a hard bounce suppresses the address at once (docs/bounces.md).
    from rundbrief.audience.queries import is_suppressed

    assert rejected.state == "bounced" and is_suppressed(rejected.subscriber.email)


def test_connection_dropped_in_mid_data_is_reopened_and_the_message_resent(settings, finance):
    make_audience(finance, 8)
    campaign = scheduled_campaign([finance])
    with SmtpServer(Faults(on_data=lambda n: "DROP" if n in (2, 5) else None)) as server:
        run_worker(settings, server)
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == sorted(f"leser{i}@example.org" for i in range(8))
    assert states(campaign) == ["sent"] * 8


def test_a_stalling_server_slows_delivery_but_loses_nothing(settings, finance):
    make_audience(finance, 4)
    campaign = scheduled_campaign([finance])
    with SmtpServer(Faults(stall_seconds=0.3)) as server:
        run_worker(settings, server)
    assert len(server.messages) == 4 and states(campaign) == ["sent"] * 4


def test_campaign_pauses_itself_after_consecutive_failures_and_says_why(settings, finance):
    make_audience(finance, 30)
    campaign = scheduled_campaign([finance])
    with SmtpServer(Faults(on_mail=lambda n: "421 4.7.0 too many errors from your IP")) as server:
        run_worker(settings, server, concurrency=1, pause_after_failures=5, max_attempts=10)
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.PAUSED
    assert "5 consecutive failed deliveries" in campaign.pause_reason
    assert "421 4.7.0 too many errors" in campaign.pause_reason
    assert server.messages == []
    # Nothing is lost: every row is still waiting to be sent once the campaign is resumed.
    assert set(states(campaign)) == {"queued"}


def test_paused_campaign_resumes_and_completes(settings, finance):
    from rundbrief.campaigns.actions import pause_campaign, resume_campaign

    make_audience(finance, 6)
    campaign = scheduled_campaign([finance])
    pause_campaign(campaign, reason="Redaktion prüft den Text")
    with SmtpServer() as server:
        run_worker(settings, server)
        assert server.messages == []
        resume_campaign(campaign)
        run_worker(settings, server)
    assert len(server.messages) == 6
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.FINISHED


def test_a_batch_lost_to_a_database_error_is_not_renewed_and_is_claimed_again(settings, finance):
    """A claim committed but its batch dropped (the database went away): the rows' leases are not
    renewed, they run out, and the rows are sent once — not held for ever, not sent twice."""
    import threading

    from django.db import OperationalError

    from rundbrief.delivery.engine import Options
    from rundbrief.delivery.store import DjangoRecipientStore
    from rundbrief.ops.worker import build_worker

    class RestartingStore(DjangoRecipientStore):
        failures = 0

        def consent_check(self, claimed, topics):
            if self.failures == 0 and threading.current_thread() is threading.main_thread():
                self.failures += 1
                raise OperationalError("server closed the connection unexpectedly")
            return super().consent_check(claimed, topics)

    make_audience(finance, 12)
    campaign = scheduled_campaign([finance])
    with SmtpServer() as server:
        settings.DELIVERY_SMTP_URLS = [server.url]
        options = Options(until_idle=True, lease_seconds=1, recheck_seconds=0.05, idle_poll_seconds=0.05, concurrency=2)
        store = RestartingStore("restart-worker", options.lease_seconds)
        build_worker("restart-worker", options, store=store).run()
    assert store.failures == 1
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == sorted(f"leser{i}@example.org" for i in range(12))
    assert states(campaign) == ["sent"] * 12
