"""Recurring digests in the admin: a changed schedule is due at its next occurrence, pause and resume
act on the selected digests, a bad subject is refused, deleting keeps the campaigns."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from rundbrief.campaigns.digests import create_digest, issue_due_digests
from rundbrief.campaigns.models import Campaign, Digest, DigestIssue

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(client):
    client.force_login(get_user_model().objects.create_superuser("redaktion", password="x"))
    return client


@pytest.fixture
def digest(topics):
    return create_digest(
        subject="Marktbericht KW {week}", topics=["finanznachrichten"], rule="weekly", at=dt.time(7, 0), weekday=0
    )


def form_data(digest, **changes):
    data = {
        "name": digest.name,
        "subject": digest.subject,
        "topics": [t.pk for t in digest.topics.all()],
        "rule": digest.rule,
        "weekday": "" if digest.weekday is None else digest.weekday,
        "day_of_month": digest.day_of_month or "",
        "local_time": digest.local_time.strftime("%H:%M"),
        "active": "on",
        "issues-TOTAL_FORMS": "0",
        "issues-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_a_changed_schedule_is_due_at_its_next_occurrence(editor, digest):
    response = editor.post(
        f"/admin/campaigns/digest/{digest.pk}/change/", form_data(digest, rule="daily", local_time="18:30")
    )
    assert response.status_code == 302
    digest.refresh_from_db()
    assert digest.rule == "daily" and digest.weekday is None
    due = timezone.localtime(digest.next_due_at)
    assert due.time() == dt.time(18, 30) and digest.next_due_at - timezone.now() <= dt.timedelta(days=1)


def test_an_unknown_placeholder_or_a_missing_weekday_is_refused_in_the_form(editor, digest):
    response = editor.post(f"/admin/campaigns/digest/{digest.pk}/change/", form_data(digest, subject="KW {kw}"))
    assert response.status_code == 200 and "unknown placeholder {kw}" in response.content.decode()
    response = editor.post(f"/admin/campaigns/digest/{digest.pk}/change/", form_data(digest, weekday=""))
    assert "Eine wöchentliche Zusammenfassung braucht einen Wochentag." in response.content.decode()
    assert Digest.objects.get().subject == "Marktbericht KW {week}"


def test_pause_and_resume_the_selected_digests(editor, digest):
    changelist = "/admin/campaigns/digest/"
    editor.post(changelist, {"action": "pause_selected", "_selected_action": [digest.pk]})
    assert not Digest.objects.get().active
    editor.post(changelist, {"action": "resume_selected", "_selected_action": [digest.pk]})
    assert Digest.objects.get().active


def test_deleting_a_digest_deletes_its_issues_and_keeps_its_campaigns(editor, digest, make_article, finance):
    make_article(topics=[finance], published_at=digest.next_due_at - dt.timedelta(days=1))
    [issue] = issue_due_digests(now=digest.next_due_at)
    assert issue.campaign is not None
    response = editor.post(f"/admin/campaigns/digest/{digest.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Digest.objects.exists() and not DigestIssue.objects.exists()
    assert Campaign.objects.get().state == Campaign.State.SCHEDULED
