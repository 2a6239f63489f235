"""A recurring digest issues itself: the worker chore, driven by a controllable clock, skips an empty
period, schedules a campaign for a full one, and issues each due time once."""

import datetime as dt
import logging
import threading
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from rundbrief.campaigns.digests import (
    DigestError,
    create_digest,
    issue_due_digests,
    issue_subject,
    pause_digest,
    resume_digest,
)
from rundbrief.campaigns.models import Campaign, Digest, DigestIssue
from rundbrief.delivery.actions import start_campaign
from rundbrief.ops.worker import CHORES

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args):
    return dt.datetime(*args, tzinfo=BERLIN)


@pytest.fixture
def weekly(topics):
    """Marktbericht, Mondays 07:00, created on Wednesday 1 April 2026: first due Monday 6 April."""
    return create_digest(
        subject="Marktbericht KW {week}",
        topics=["finanznachrichten"],
        rule="weekly",
        at=dt.time(7, 0),
        weekday=0,
        now=berlin(2026, 4, 1, 12, 0),
    )


@pytest.mark.django_db
def test_a_new_digest_is_due_at_the_next_occurrence_and_covers_one_period_back(weekly):
    assert weekly.next_due_at == berlin(2026, 4, 6, 7, 0)
    assert weekly.period_start == berlin(2026, 3, 30, 7, 0)
    assert weekly.name == "Marktbericht KW {week}"


@pytest.mark.django_db
def test_the_worker_runs_the_digest_chore():
    assert issue_due_digests in CHORES


@pytest.mark.django_db
def test_a_week_without_articles_is_skipped_logged_and_sends_nothing(weekly, make_article, topics, caplog):
    # An article of another topic does not count.
    make_article(topics=[topics["sonderangebote"]], published_at=berlin(2026, 4, 2, 10, 0))
    with caplog.at_level(logging.INFO, logger="rundbrief.campaigns"):
        issued = issue_due_digests(now=berlin(2026, 4, 6, 7, 0, 5))
    assert [(i.outcome, i.reason, i.due_at) for i in issued] == [
        ("skipped", "keine neuen Artikel", berlin(2026, 4, 6, 7, 0))
    ]
    assert not Campaign.objects.exists()
    assert f"digest {weekly.pk} skipped" in caplog.text
    weekly.refresh_from_db()
    assert weekly.next_due_at == berlin(2026, 4, 13, 7, 0)
    assert weekly.period_start == berlin(2026, 3, 30, 7, 0)  # a skipped issue does not end a period


@pytest.mark.django_db
def test_a_week_with_an_article_schedules_a_campaign_that_carries_it(weekly, make_article, finance):
    make_article(title="Gold vor dem Rekord", topics=[finance], published_at=berlin(2026, 3, 20, 9, 0))  # before
    make_article(title="Silber zieht an", topics=[finance], published_at=berlin(2026, 4, 8, 10, 0))  # after creation
    issue_due_digests(now=berlin(2026, 4, 6, 7, 0, 5))  # the empty first week
    make_article(title="Nach Redaktionsschluss", topics=[finance], published_at=berlin(2026, 4, 13, 7, 0, 1))

    [issue] = issue_due_digests(now=berlin(2026, 4, 13, 7, 0, 5))

    campaign = issue.campaign
    assert issue.outcome == "sent" and issue.due_at == berlin(2026, 4, 13, 7, 0)
    assert campaign.state == Campaign.State.SCHEDULED and campaign.scheduled_at == berlin(2026, 4, 13, 7, 0)
    assert campaign.body_format == "digest" and campaign.subject == "Marktbericht KW 16"
    assert [t.slug for t in campaign.topics.all()] == ["finanznachrichten"]
    assert campaign.events.get().actor == f"digest:{weekly.pk}"

    started = start_campaign(campaign.pk, now=berlin(2026, 4, 13, 7, 0, 10))
    assert started.state == Campaign.State.SENDING
    assert "Silber zieht an" in started.frozen_html and "Silber zieht an" in started.frozen_text
    assert "Gold vor dem Rekord" not in started.frozen_html  # before the first period
    assert "Nach Redaktionsschluss" not in started.frozen_html  # the next issue's
    weekly.refresh_from_db()
    assert weekly.period_start == berlin(2026, 4, 13, 7, 0)


@pytest.mark.django_db
def test_two_chore_runs_at_the_same_time_issue_once(weekly):
    now = berlin(2026, 4, 6, 7, 0, 5)
    assert len(issue_due_digests(now=now)) == 1
    assert issue_due_digests(now=now) == []
    assert DigestIssue.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_issue_once(topics, make_article, finance):
    digest = create_digest(
        subject="Täglich", topics=["finanznachrichten"], rule="daily", at=dt.time(7, 0), now=berlin(2026, 4, 1, 8)
    )
    make_article(topics=[finance], published_at=berlin(2026, 4, 1, 12, 0))
    now, barrier, results = berlin(2026, 4, 2, 7, 0, 5), threading.Barrier(2), []

    def worker():
        try:
            barrier.wait()
            results.append(len(issue_due_digests(now=now)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1]
    assert DigestIssue.objects.filter(digest=digest).count() == 1
    assert Campaign.objects.count() == 1


@pytest.mark.django_db
def test_a_worker_down_for_three_days_issues_one_digest_not_three(topics, make_article, finance):
    digest = create_digest(
        subject="Täglich {date}", topics=["finanznachrichten"], rule="daily", at=dt.time(7, 0), now=berlin(2026, 4, 5)
    )
    for day in (6, 7, 8):
        make_article(topics=[finance], published_at=berlin(2026, 4, day, 12, 0))
    [issue] = issue_due_digests(now=berlin(2026, 4, 9, 8, 15))
    assert issue.due_at == berlin(2026, 4, 9, 7, 0)
    assert issue.campaign.subject == "Täglich 9. April 2026"
    started = start_campaign(issue.campaign.pk, now=berlin(2026, 4, 9, 8, 16))
    assert started.frozen_html.count("/artikel/") >= 3  # all three days' articles, once
    digest.refresh_from_db()
    assert digest.next_due_at == berlin(2026, 4, 10, 7, 0)
    assert DigestIssue.objects.count() == 1


@pytest.mark.django_db
def test_a_paused_digest_is_not_issued_and_resumes_at_the_next_time(weekly):
    pause_digest(weekly, actor="test")
    assert issue_due_digests(now=berlin(2026, 4, 20, 8, 0)) == []
    resumed = resume_digest(weekly, actor="test", now=berlin(2026, 4, 20, 8, 0))
    assert resumed.active and resumed.next_due_at == berlin(2026, 4, 27, 7, 0)
    assert resumed.period_start == berlin(2026, 4, 20, 7, 0)  # one period back, not all the weeks paused


@pytest.mark.django_db
@pytest.mark.parametrize(
    "subject, message",
    [
        ("KW {woche}", "unknown placeholder {woche}"),
        ("KW {week!r}", "unknown placeholder {week}"),
        ("KW {week", "lone { or }"),
        ("KW {0}", "unknown placeholder {0}"),
    ],
)
def test_an_unknown_placeholder_is_refused_when_the_digest_is_created(topics, subject, message):
    with pytest.raises(DigestError, match=message.replace("{", r"\{").replace("}", r"\}")):
        create_digest(subject=subject, topics=["finanznachrichten"], rule="daily", at=dt.time(7, 0))
    assert not Digest.objects.exists()


def test_the_subject_carries_the_week_year_month_and_date(settings):
    due = berlin(2026, 12, 28, 7, 0)
    assert issue_subject("KW {week}/{year}: {month}, {date}", due) == "KW 53/2026: Dezember, 28. Dezember 2026"
    settings.LANGUAGE_CODE = "en"
    assert issue_subject("Week {week}, {date}", due) == "Week 53, 28 December 2026"
