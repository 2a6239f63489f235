"""Recurring digests: the actions that create, change, pause, resume and delete them, and the chore
that issues them when they are due. The admin and `rundbrief digest` call the same actions.

`issue_due_digests` runs in every delivery worker every few seconds (ops/worker.py CHORES). For a
due digest it decides, in one transaction with the digest's row locked, whether the topics have
new articles since the last issue that went out; if not, it records a skipped issue; if so, it
creates a digest campaign for exactly that period and schedules it for the due time, and the
worker starts it through the normal path (delivery/actions.py `start_campaign`). The unique
(digest, due time) of DigestIssue keeps two workers from issuing the same one
(docs/campaigns.md, "Recurring digests"; docs/decisions.md, "Recurring digests").
"""

import datetime as dt
import logging
import string

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext

from rundbrief.campaigns.actions import schedule_campaign
from rundbrief.campaigns.authoring import (
    CampaignError,
    check_header_text,
    check_subject,
    create_campaign,
    resolve_topics,
)
from rundbrief.campaigns.models import Campaign, Digest, DigestIssue
from rundbrief.campaigns.recurrence import (
    MONTHLY,
    WEEKLY,
    RecurrenceError,
    Schedule,
    latest_occurrence,
    next_occurrence,
    previous_occurrence,
)
from rundbrief.newsroom.models import Article

log = logging.getLogger("rundbrief.campaigns")

PLACEHOLDERS = ("week", "year", "month", "date")
SCHEDULE_FIELDS = ("rule", "local_time", "weekday", "day_of_month")


class DigestError(CampaignError):
    """A digest cannot be created or changed as asked; the message says why, in one line."""


def site_zone():
    """The site's time zone (TIME_ZONE): digests are due at local wall-clock times."""
    return timezone.get_default_timezone()


# -- the subject ---------------------------------------------------------------------------------


def issue_subject(template: str, due_at: dt.datetime) -> str:
    """The subject of the issue due at `due_at`, its placeholders filled in the site's language."""
    local = timezone.localtime(due_at, site_zone())
    with translation.override(settings.LANGUAGE_CODE):
        values = {
            "week": local.isocalendar().week,  # ISO 8601 week, as "KW" means in Germany
            "year": local.year,
            "month": date_format(local, "F"),
            "date": date_format(local, "DATE_FORMAT"),
        }
    return template.format(**values)


def check_subject_template(template: str) -> str:
    """A subject whose placeholders are all known; refused at creation, not at the first issue."""
    template = check_subject(template)
    allowed = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    try:
        fields = [(name, conversion) for _text, name, _spec, conversion in string.Formatter().parse(template)]
    except ValueError:
        raise DigestError("the subject has a lone { or }; write {{ or }} for a brace") from None
    for name, conversion in fields:
        if name is not None and (name not in PLACEHOLDERS or conversion):
            raise DigestError(f"unknown placeholder {{{name}}} in the subject; known: {allowed}")
    try:
        sample = issue_subject(template, timezone.now())
    except ValueError as exc:  # a format spec that does not fit, e.g. {month:d}
        raise DigestError(f"the subject's placeholders cannot be filled: {exc}") from None
    check_header_text(sample, "the subject with its placeholders filled", 200)
    return template


# -- the actions ---------------------------------------------------------------------------------


def make_schedule(rule, at, weekday=None, day_of_month=None) -> Schedule:
    try:
        return Schedule(
            rule,
            at.replace(second=0, microsecond=0),
            weekday if rule == WEEKLY else None,
            day_of_month if rule == MONTHLY else None,
        )
    except RecurrenceError as exc:
        raise DigestError(str(exc)) from None


def create_digest(
    *, subject, topics, rule, at, weekday=None, day_of_month=None, name="", active=True, actor="", now=None
) -> Digest:
    """A recurring digest, due first at the next occurrence of its schedule after `now`.

    The first issue covers one period back from its due time (a week for a weekly digest), so it
    reads like every later issue instead of listing only what appeared since the click."""
    now = now or timezone.now()
    subject = check_subject_template(subject)
    name = check_header_text((name or "").strip() or subject, "the name", 200)
    schedule = make_schedule(rule, at, weekday, day_of_month)
    resolved = resolve_topics(topics)
    next_due = next_occurrence(schedule, now, site_zone())
    with transaction.atomic():
        digest = Digest.objects.create(
            name=name,
            subject=subject,
            rule=schedule.rule,
            local_time=schedule.at,
            weekday=schedule.weekday,
            day_of_month=schedule.day,
            active=active,
            next_due_at=next_due,
            period_start=previous_occurrence(schedule, next_due, site_zone()),
            created_at=now,
        )
        digest.topics.set(resolved)
    log.info("digest %s created by %s: %s, first issue %s", digest.pk, actor or "-", schedule.describe(), next_due)
    return digest


def update_digest(digest, *, subject, topics, rule, at, weekday=None, day_of_month=None, name="", actor="", now=None):
    """Change a digest; a changed schedule is due next at its next occurrence after `now`."""
    now = now or timezone.now()
    subject = check_subject_template(subject)
    name = check_header_text((name or "").strip() or subject, "the name", 200)
    schedule = make_schedule(rule, at, weekday, day_of_month)
    resolved = resolve_topics(topics)
    with transaction.atomic():
        digest = Digest.objects.select_for_update().get(pk=digest.pk)
        changed = digest.schedule != schedule
        digest.name, digest.subject = name, subject
        digest.rule, digest.local_time = schedule.rule, schedule.at
        digest.weekday, digest.day_of_month = schedule.weekday, schedule.day
        if changed:
            digest.next_due_at = next_occurrence(schedule, now, site_zone())
            if not digest.issues.filter(outcome=DigestIssue.Outcome.SENT).exists():
                digest.period_start = previous_occurrence(schedule, digest.next_due_at, site_zone())
        digest.save()
        digest.topics.set(resolved)
    log.info("digest %s changed by %s: %s", digest.pk, actor or "-", schedule.describe())
    return digest


def pause_digest(digest, *, actor=""):
    """No issues until resumed; the times missed meanwhile are not made up."""
    with transaction.atomic():
        Digest.objects.filter(pk=digest.pk).update(active=False)
    log.info("digest %s paused by %s", digest.pk, actor or "-")
    digest.refresh_from_db()
    return digest


def resume_digest(digest, *, actor="", now=None):
    """Due again at the next occurrence after `now`. Its first issue covers at most one period, like
    the very first: after three months' pause nobody wants three months of articles in one mail."""
    now = now or timezone.now()
    with transaction.atomic():
        digest = Digest.objects.select_for_update().get(pk=digest.pk)
        schedule = digest.schedule
        digest.active = True
        digest.next_due_at = next_occurrence(schedule, now, site_zone())
        digest.period_start = max(digest.period_start, previous_occurrence(schedule, digest.next_due_at, site_zone()))
        digest.save(update_fields=["active", "next_due_at", "period_start"])
    log.info("digest %s resumed by %s, next issue %s", digest.pk, actor or "-", digest.next_due_at)
    return digest


def delete_digest(digest, *, actor=""):
    """The digest and its list of issues go; the campaigns it created stay (they were sent)."""
    pk = digest.pk
    digest.delete()
    log.info("digest %s deleted by %s", pk, actor or "-")


# -- the chore -----------------------------------------------------------------------------------


def issue_due_digests(now=None) -> list[DigestIssue]:
    """Issue every active digest whose time has come (the worker chore; safe in several workers)."""
    now = now or timezone.now()
    due = Digest.objects.filter(active=True, next_due_at__lte=now).order_by("next_due_at", "pk")
    issued = []
    for pk in list(due.values_list("pk", flat=True)):
        try:
            issue = issue_digest(pk, now)
        except IntegrityError:
            continue  # another worker issued this due time first (the unique constraint)
        if issue is not None:
            issued.append(issue)
    return issued


def issue_digest(pk, now) -> DigestIssue | None:
    """Issue one due digest, or None when it is no longer due or another worker holds it.

    The due time is the latest one not after `now`: a worker that was down for three days issues
    one digest, not three, and the next is due at the first occurrence after `now`."""
    with transaction.atomic():
        rows = Digest.objects.filter(pk=pk, active=True, next_due_at__lte=now)
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        digest = rows.first()  # SQLite: BEGIN IMMEDIATE already serialises writers
        if digest is None:
            return None
        schedule, zone = digest.schedule, site_zone()
        due_at = latest_occurrence(schedule, digest.next_due_at, now, zone)
        issue = DigestIssue(digest=digest, due_at=due_at)
        try:
            issue.campaign = _campaign_for(digest, due_at)
        except CampaignError as exc:  # its topics were deleted, or the subject no longer fits
            issue.outcome, issue.reason = DigestIssue.Outcome.SKIPPED, str(exc)[:300]
            log.warning("digest %s not issued for %s: %s", digest.pk, due_at, exc)
        else:
            if issue.campaign is None:
                issue.outcome = DigestIssue.Outcome.SKIPPED
                with translation.override(settings.LANGUAGE_CODE):  # stored as the campaign history is
                    issue.reason = gettext("no new articles")
                log.info("digest %s skipped for %s: no new articles", digest.pk, due_at)
            else:
                issue.outcome = DigestIssue.Outcome.SENT
                digest.period_start = due_at  # the next issue starts where this one ends
                log.info("digest %s issued for %s as campaign %s", digest.pk, due_at, issue.campaign.pk)
        issue.save()
        digest.next_due_at = next_occurrence(schedule, now, zone)
        digest.save(update_fields=["next_due_at", "period_start"])
    return issue


def _campaign_for(digest, due_at) -> Campaign | None:
    """A scheduled digest campaign of the articles published in [period start, due time), or None
    when there are none (the issue is skipped; an empty digest is never sent)."""
    topics = list(digest.topics.all())
    new = Article.objects.published(now=due_at).filter(
        topics__in=topics, published_at__gte=digest.period_start, published_at__lt=due_at
    )
    if not new.exists():
        return None
    local = timezone.localtime(due_at, site_zone())
    with translation.override(settings.LANGUAGE_CODE):
        name = f"{digest.name} · {date_format(local, 'SHORT_DATE_FORMAT')}"
    campaign = create_campaign(
        name=name[:200],
        subject=issue_subject(digest.subject, due_at),
        topics=topics,
        body_format=Campaign.BodyFormat.DIGEST,
        digest_since=digest.period_start,
        digest_until=due_at,
    )
    return schedule_campaign(campaign, at=due_at, actor=f"digest:{digest.pk}")
