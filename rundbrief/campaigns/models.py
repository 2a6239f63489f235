"""A campaign: one newsletter, its audience (topics) and its life cycle.

draft ──schedule──► scheduled ──(its time has come: a worker starts it)──► sending ──► finished
  ▲                   │  │                                                  │  ▲
  └──unschedule───────┘  └──────────────── cancel ◄─────────────────────────┤  └─ resume ─┐
                                                                            └─► paused ───┘
Content is frozen (`frozen_*`) and the audience snapshotted when sending starts, not when the
editor schedules: a digest for Monday 09:00 carries the articles published until then. From then on
every worker on every host sends exactly the same newsletter, even if the articles change.
"""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rundbrief.audience.models import Segment
from rundbrief.campaigns.recurrence import Schedule
from rundbrief.newsroom.models import Topic


def new_web_token():
    """The web version's URL part: 128 random bits, so nobody finds a campaign that is not public by counting."""
    return secrets.token_urlsafe(16)


def default_from_email():
    return settings.CAMPAIGN_FROM_EMAIL


def default_from_name():
    return settings.CAMPAIGN_FROM_NAME


class Campaign(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        SCHEDULED = "scheduled", _("scheduled")
        SENDING = "sending", _("sending")
        PAUSED = "paused", _("paused")
        FINISHED = "finished", _("finished")
        CANCELLED = "cancelled", _("cancelled")

    class BodyFormat(models.TextChoices):
        MARKDOWN = "markdown", _("Markdown")
        HTML = "html", _("HTML")
        DIGEST = "digest", _("digest of new articles")

    name = models.CharField(_("name"), max_length=200)
    subject = models.CharField(_("subject"), max_length=200)
    preheader = models.CharField(_("preheader"), max_length=200, blank=True)
    from_name = models.CharField(_("from name"), max_length=100, default=default_from_name)
    from_email = models.EmailField(_("from address"), default=default_from_email)
    reply_to = models.EmailField(_("reply-to address"), blank=True)
    topics = models.ManyToManyField(
        Topic,
        related_name="campaigns",
        verbose_name=_("topics"),
        help_text=_("Sent to confirmed subscribers of any of these topics."),
    )
    segment = models.ForeignKey(
        Segment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # a segment some campaign was sent to stays, so its history reads right
        related_name="campaigns",
        verbose_name=_("segment"),
        help_text=_("Optional: of the topics' subscribers, only those in this segment."),
    )
    body_format = models.CharField(
        _("body format"), max_length=10, choices=BodyFormat.choices, default=BodyFormat.MARKDOWN
    )
    body = models.TextField(_("body"), blank=True)
    digest_since = models.DateTimeField(
        _("digest: articles since"),
        null=True,
        blank=True,
        help_text=_("Empty: since the previous digest was sent."),
    )
    digest_until = models.DateTimeField(
        _("digest: articles until"),
        null=True,
        blank=True,
        help_text=_("Empty: until sending starts. Set by recurring digests: each issue covers its own period."),
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.DRAFT, db_index=True)
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    pause_reason = models.CharField(_("pause reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    # Frozen when sending starts, by delivery/actions.py start_campaign(); workers only read these.
    frozen_subject = models.CharField(max_length=200, blank=True, editable=False)
    frozen_html = models.TextField(blank=True, editable=False)
    frozen_text = models.TextField(blank=True, editable=False)
    # The same newsletter with the layout (header, footer, link texts, topic names) in each other
    # language of the site, for subscribers who signed up in it: {"en": {"subject", "html", "text"}}.
    frozen_translations = models.JSONField(default=dict, blank=True, editable=False)
    recipient_count = models.PositiveIntegerField(_("recipients"), default=0, editable=False)

    # The web version and the archive (docs/campaigns.md, "Web version and archive").
    web_token = models.CharField(max_length=32, unique=True, default=new_web_token, editable=False)
    show_in_archive = models.BooleanField(
        _("show in archive"),
        default=True,
        help_text=_("Once it has been sent, the newsletter is listed in the public newsletter archive."),
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self):
        return self.name

    @property
    def is_editable(self):
        return self.state == self.State.DRAFT

    @property
    def web_version_is_public(self):
        """Anyone with the link may read it once sending has started: its recipients hold the link."""
        return self.started_at is not None and bool(self.frozen_html)

    @property
    def is_archived(self):
        """Listed in the public archive: finished (a paused or cancelled one may never have reached everyone)."""
        return self.state == self.State.FINISHED and self.show_in_archive and self.web_version_is_public


class CampaignEvent(models.Model):
    """One state change of a campaign and who made it: append-only, written by the action in its transaction.

    `actor` is the admin user's name, `cli`, `api:<client>` or the part of the system that acted
    (`bounces` pauses a campaign whose complaint rate is too high)."""

    class Action(models.TextChoices):
        SCHEDULED = "scheduled", _("scheduled")
        UNSCHEDULED = "unscheduled", _("unscheduled")
        STARTED = "started", _("sending started")
        SKIPPED = "skipped", _("skipped")
        DUPLICATED = "duplicated", _("copied")
        PAUSED = "paused", _("paused")
        RESUMED = "resumed", _("resumed")
        CANCELLED = "cancelled", _("cancelled")
        TEST_SENT = "test_sent", _("test sent")
        SHOWN_IN_ARCHIVE = "archive_shown", _("shown in the archive")
        HIDDEN_FROM_ARCHIVE = "archive_hidden", _("kept out of the archive")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="events", verbose_name=_("campaign"))
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    actor = models.CharField(_("by"), max_length=150, blank=True)
    occurred_at = models.DateTimeField(_("at"), default=timezone.now)
    detail = models.CharField(_("detail"), max_length=300, blank=True)

    class Meta:
        ordering = ["occurred_at", "pk"]
        verbose_name = _("campaign event")
        verbose_name_plural = _("campaign history")

    def __str__(self):
        return f"{self.get_action_display()} ({self.actor or '–'})"


class WelcomeMail(models.Model):
    """The one mail a subscriber gets after she confirms, one text per language (docs/campaigns.md, "Welcome mail").

    A subscriber gets the text of her language, or else the default language's; an editor switches
    a language's mail off with `enabled`."""

    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, unique=True)
    enabled = models.BooleanField(
        _("enabled"), default=True, help_text=_("Sent to readers who confirm their subscription from now on.")
    )
    subject = models.CharField(_("subject"), max_length=200)
    preheader = models.CharField(_("preheader"), max_length=200, blank=True)
    body = models.TextField(_("body"), help_text=_("Markdown. The footer with the unsubscribe link is added."))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["language"]
        verbose_name = _("welcome mail")
        verbose_name_plural = _("welcome mails")

    def __str__(self):
        return f"{self.get_language_display()}: {self.subject}"

    @classmethod
    def for_language(cls, language):
        """The text a subscriber of `language` gets: hers, else the default language's; None if neither exists.
        Whether it is `enabled` is the caller's question: a text switched off is not replaced by another."""
        texts = {w.language: w for w in cls.objects.filter(language__in={language, settings.LANGUAGE_CODE})}
        return texts.get(language) or texts.get(settings.LANGUAGE_CODE)


class Digest(models.Model):
    """A recurring digest: at each due time a worker issues a digest campaign of the topics' new
    articles, or records that there were none (campaigns/digests.py, docs/campaigns.md)."""

    class Rule(models.TextChoices):
        DAILY = "daily", _("daily")
        WEEKLY = "weekly", _("weekly")
        MONTHLY = "monthly", _("monthly")

    class Weekday(models.IntegerChoices):
        # date.weekday(): 0 is Monday
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    name = models.CharField(_("name"), max_length=200)
    subject = models.CharField(
        _("subject"),
        max_length=200,
        help_text=_("May contain {week} (ISO week number), {year}, {month} and {date} of the issue."),
    )
    topics = models.ManyToManyField(Topic, related_name="digests", verbose_name=_("topics"))
    rule = models.CharField(_("repeats"), max_length=10, choices=Rule.choices, default=Rule.WEEKLY)
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices, null=True, blank=True)
    day_of_month = models.PositiveSmallIntegerField(
        _("day of the month"), null=True, blank=True, help_text=_("1 to 28: every month has these days.")
    )
    local_time = models.TimeField(_("time"), help_text=_("In the site's time zone."))
    active = models.BooleanField(_("active"), default=True)
    next_due_at = models.DateTimeField(_("next issue"), db_index=True)
    # The articles of the next issue are those published from here on: the end of the last issue
    # that was sent (a skipped issue leaves it), or one period before the first issue.
    period_start = models.DateTimeField(_("new articles since"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("recurring digest")
        verbose_name_plural = _("recurring digests")

    def __str__(self):
        return self.name

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.rule, self.local_time, self.weekday, self.day_of_month)


class DigestIssue(models.Model):
    """One due time of a digest and what came of it: a campaign, or skipped with the reason.

    Unique per (digest, due time): two workers that see the same due digest cannot both issue it."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("campaign created")
        SKIPPED = "skipped", _("skipped")

    digest = models.ForeignKey(Digest, on_delete=models.CASCADE, related_name="issues", verbose_name=_("digest"))
    due_at = models.DateTimeField(_("due at"))
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("campaign")
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("issued at"), default=timezone.now)

    class Meta:
        ordering = ["-due_at", "-pk"]
        verbose_name = _("issue")
        verbose_name_plural = _("issues")
        constraints = [models.UniqueConstraint(fields=["digest", "due_at"], name="one_issue_per_due_time")]

    def __str__(self):
        return f"{self.digest} · {timezone.localtime(self.due_at):%Y-%m-%d %H:%M}"
