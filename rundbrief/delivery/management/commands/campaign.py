"""`rundbrief campaign create|schedule|send|unschedule|duplicate|list|status|pause|resume|cancel` (docs/cli.md).

Thin: parse, call the campaign actions (campaigns/actions.py) or campaign_progress, print. In the
delivery app, not in campaigns: progress reads the delivery ledger.
Every expected failure is one line on stderr and exit status 1.
"""

import datetime as dt
import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone, translation

from rundbrief.campaigns.actions import (
    CampaignStateError,
    cancel_campaign,
    duplicate_campaign,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
    unschedule_campaign,
)
from rundbrief.campaigns.authoring import CampaignError, create_campaign
from rundbrief.campaigns.models import Campaign
from rundbrief.campaigns.rendering import render_campaign
from rundbrief.delivery.progress import campaign_progress

# A time a little in the past is "now" typed slowly; further back it is a mistake.
PAST_TOLERANCE = dt.timedelta(minutes=1)


def fail(message):
    raise CommandError(message, returncode=1)


class Command(BaseCommand):
    help = "Create a newsletter campaign, send it now, or show its progress."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        create = sub.add_parser("create", help="Create a draft campaign and print its id.")
        create.add_argument("--subject", required=True)
        create.add_argument(
            "--topics", required=True, help="Comma-separated topic slugs; the audience is their subscribers."
        )
        source = create.add_mutually_exclusive_group(required=True)
        source.add_argument("--body-file", help="The body: Markdown (or HTML with --html), UTF-8.")
        source.add_argument("--digest", action="store_true", help="A digest of the topics' new articles.")
        create.add_argument("--html", action="store_true", help="The body file is HTML, not Markdown.")
        create.add_argument("--name", default="", help="Internal name; default: the subject.")
        create.add_argument("--preheader", default="", help="Preview text shown after the subject in mail clients.")
        schedule = sub.add_parser(
            "schedule",
            help="Schedule a draft campaign for a later time; content and audience are fixed when sending starts.",
        )
        schedule.add_argument("id")
        schedule.add_argument(
            "--at",
            required=True,
            help="ISO 8601 time, e.g. 2026-12-07T09:00+01:00; without an offset, in the site's time zone (TIME_ZONE).",
        )
        send = sub.add_parser("send", help="Schedule a draft campaign for sending now.")
        send.add_argument("id")
        for verb, text in [
            ("unschedule", "Return a scheduled campaign to draft (until sending has started)."),
            ("duplicate", "Copy a campaign (content, sender, topics) into a new draft and print its id."),
            ("pause", "Pause a scheduled or sending campaign."),
            ("resume", "Resume a paused campaign."),
            ("cancel", "Cancel a campaign; rows not yet sent are never sent."),
        ]:
            sub.add_parser(verb, help=text).add_argument("id")
        listing = sub.add_parser("list", help="All campaigns, newest first: id, state, send time, subject.")
        listing.add_argument("--json", action="store_true", help="Print one JSON array.")
        status = sub.add_parser("status", help="State and delivery counts of a campaign.")
        status.add_argument("id")
        status.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, subcommand, **options):
        try:
            getattr(self, f"handle_{subcommand}")(**options)
        except (CampaignError, CampaignStateError, ValidationError) as exc:
            fail(" ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))

    def handle_create(self, *, subject, topics, body_file, digest, html, name, preheader, **options):
        if html and digest:
            fail("--html goes with --body-file, not with --digest")
        body = "" if digest else read_body(body_file)
        body_format = "digest" if digest else ("html" if html else "markdown")
        slugs = [slug.strip() for slug in topics.split(",") if slug.strip()]
        campaign = create_campaign(
            name=name, subject=subject, topics=slugs, body=body, body_format=body_format, preheader=preheader
        )
        self.stdout.write(str(campaign.pk))

    def handle_schedule(self, *, id, at, **options):
        self._schedule(get_campaign(id), parse_time(at))

    def handle_send(self, *, id, **options):
        self._schedule(get_campaign(id), None)

    def _schedule(self, campaign, at):
        if campaign.state != Campaign.State.DRAFT:
            fail(f"campaign {campaign.pk} is {campaign.state}; only a draft can be scheduled")
        # Rendered as it would be now, only to show the warnings (empty digest, Gmail clipping).
        rendered = render_campaign(campaign)
        with translation.override("en"):  # the commands speak English (docs/cli.md)
            for warning in rendered.warnings:
                self.stderr.write(f"warning: {warning}")
        campaign = schedule_campaign(campaign, at=at, actor="cli")
        when = timezone.localtime(campaign.scheduled_at).isoformat(timespec="minutes")
        # As of now: the audience is taken when sending starts (people confirm and withdraw meanwhile).
        self.stdout.write(f"campaign {campaign.pk} scheduled for {when}: {campaign.recipients_now} recipients now")

    def handle_unschedule(self, *, id, **options):
        campaign = unschedule_campaign(get_campaign(id), actor="cli")
        self.stdout.write(f"campaign {campaign.pk} {campaign.state}")

    def handle_duplicate(self, *, id, **options):
        self.stdout.write(str(duplicate_campaign(get_campaign(id), actor="cli").pk))

    def handle_pause(self, *, id, **options):
        campaign = pause_campaign(get_campaign(id), actor="cli")
        self.stdout.write(f"campaign {campaign.pk} {campaign.state}")

    def handle_resume(self, *, id, **options):
        campaign = resume_campaign(get_campaign(id), actor="cli")
        self.stdout.write(f"campaign {campaign.pk} {campaign.state}")

    def handle_cancel(self, *, id, **options):
        campaign = cancel_campaign(get_campaign(id), actor="cli")
        self.stdout.write(f"campaign {campaign.pk} {campaign.state}")

    def handle_list(self, **options):
        rows = [
            {
                "id": c.pk,
                "state": c.state,
                "scheduled_at": timezone.localtime(c.scheduled_at).isoformat() if c.scheduled_at else None,
                "started_at": timezone.localtime(c.started_at).isoformat() if c.started_at else None,
                "subject": c.subject,
                "name": c.name,
                "recipients": c.recipient_count,
            }
            for c in Campaign.objects.order_by("-created_at", "-pk").iterator()
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        for row in rows:
            when = (row["scheduled_at"] or "-")[:16]
            self.stdout.write(f"{row['id']:>6}  {row['state']:<10} {when:<16}  {row['subject']}")

    def handle_status(self, *, id, **options):
        campaign = get_campaign(id)
        report = {"id": campaign.pk, "name": campaign.name, "state": campaign.state, **campaign_progress(campaign)}
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, default=str))
            return
        for key, value in report.items():
            self.stdout.write(f"{key}: {value}")


def read_body(filename):
    path = Path(filename)
    try:
        # utf-8-sig: editors on Windows save with a byte-order mark, which is not text.
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        fail(f"{filename}: no such file")
    except IsADirectoryError:
        fail(f"{filename}: is a directory")
    except PermissionError:
        fail(f"{filename}: permission denied")
    except UnicodeDecodeError as exc:
        fail(f"{filename}: not UTF-8 (byte {exc.start})")


def parse_time(text):
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"--at {text!r} is not an ISO 8601 time such as 2026-12-07T09:00+01:00")
    if timezone.is_naive(at):
        at = timezone.make_aware(at)  # the site's time zone (TIME_ZONE), daylight saving included
    if at < timezone.now() - PAST_TOLERANCE:
        fail(f"--at {text} is in the past; use `campaign send` to send now")
    return at


def get_campaign(campaign_id):
    # Digits only, and short enough for a 64-bit key: anything else cannot be an id.
    if not (campaign_id.isascii() and campaign_id.isdigit() and len(campaign_id) <= 18):
        fail(f"no campaign with id {campaign_id}")
    try:
        return Campaign.objects.get(pk=int(campaign_id))
    except Campaign.DoesNotExist:
        fail(f"no campaign with id {campaign_id}")
