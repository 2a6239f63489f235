"""`rundbrief digest create|list|pause|resume|delete` (docs/cli.md): recurring digests.

Thin: parse, call the digest actions (campaigns/digests.py), print. In campaigns, because a digest
only creates and schedules campaigns; the worker's chore sends them. Every expected failure is one
line on stderr and exit status 1.
"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from rundbrief.campaigns.authoring import CampaignError
from rundbrief.campaigns.digests import create_digest, delete_digest, pause_digest, resume_digest
from rundbrief.campaigns.models import Digest
from rundbrief.campaigns.recurrence import (
    DAILY,
    MONTHLY,
    WEEKLY,
    RecurrenceError,
    parse_month_day,
    parse_time,
    parse_weekday,
)


def fail(message):
    raise CommandError(message, returncode=1)


class Command(BaseCommand):
    help = "Recurring digests: issued by the delivery worker at each due time, skipped when nothing is new."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        create = sub.add_parser("create", help="Create a recurring digest and print its id.")
        create.add_argument(
            "--topics", required=True, help="Comma-separated topic slugs: their new articles, their subscribers."
        )
        create.add_argument(
            "--subject", required=True, help="May carry {week} (ISO week), {year}, {month} and {date} of the issue."
        )
        create.add_argument("--name", default="", help="Internal name; default: the subject.")
        # Exactly one of the three; checked in handle so that two of them is one line and exit 1.
        create.add_argument("--daily", metavar="HH:MM", help="Every day at this time (the site's time zone).")
        create.add_argument(
            "--weekly", nargs=2, metavar=("DAY", "HH:MM"), help="Every week: monday … sunday (or mon … sun), a time."
        )
        create.add_argument(
            "--monthly", nargs=2, metavar=("N", "HH:MM"), help="Every month on day N (1 to 28), at a time."
        )
        listing = sub.add_parser("list", help="All recurring digests: id, state, schedule, next issue, subject.")
        listing.add_argument("--json", action="store_true", help="Print one JSON array.")
        for verb, text in [
            ("pause", "Stop issuing a digest until it is resumed."),
            ("resume", "Issue a paused digest again, from its next due time after now."),
            ("delete", "Delete a digest and its list of issues; the campaigns it created stay."),
        ]:
            sub.add_parser(verb, help=text).add_argument("id")

    def handle(self, *args, subcommand, **options):
        try:
            getattr(self, f"handle_{subcommand}")(**options)
        except (CampaignError, RecurrenceError) as exc:
            fail(str(exc))

    def handle_create(self, *, topics, subject, name, daily, weekly, monthly, **options):
        given = [flag for flag, value in [("--daily", daily), ("--weekly", weekly), ("--monthly", monthly)] if value]
        if len(given) != 1:
            fail(
                "give exactly one of --daily HH:MM, --weekly DAY HH:MM, --monthly N HH:MM"
                + (f", not {' and '.join(given)}" if given else "")
            )
        if daily:
            rule, at, weekday, day = DAILY, parse_time(daily), None, None
        elif weekly:
            rule, weekday, at, day = WEEKLY, parse_weekday(weekly[0]), parse_time(weekly[1]), None
        else:
            rule, day, at, weekday = MONTHLY, parse_month_day(monthly[0]), parse_time(monthly[1]), None
        slugs = [slug.strip() for slug in topics.split(",") if slug.strip()]
        digest = create_digest(
            subject=subject, topics=slugs, rule=rule, at=at, weekday=weekday, day_of_month=day, name=name, actor="cli"
        )
        self.stdout.write(str(digest.pk))

    def handle_list(self, **options):
        rows = [
            {
                "id": d.pk,
                "active": d.active,
                "schedule": d.schedule.describe(),
                "next_due_at": timezone.localtime(d.next_due_at).isoformat(),
                "subject": d.subject,
                "name": d.name,
                "topics": [t.slug for t in d.topics.all()],
                "issues": d.issues.count(),
            }
            for d in Digest.objects.order_by("pk").prefetch_related("topics")
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        for row in rows:
            state = "active" if row["active"] else "paused"
            self.stdout.write(
                f"{row['id']:>6}  {state:<6}  {row['schedule']:<24} next {row['next_due_at'][:16]}  {row['subject']}"
            )

    def handle_pause(self, *, id, **options):
        digest = pause_digest(get_digest(id), actor="cli")
        self.stdout.write(f"digest {digest.pk} paused")

    def handle_resume(self, *, id, **options):
        digest = resume_digest(get_digest(id), actor="cli")
        when = timezone.localtime(digest.next_due_at).isoformat(timespec="minutes")
        self.stdout.write(f"digest {digest.pk} active, next issue {when}")

    def handle_delete(self, *, id, **options):
        digest = get_digest(id)
        delete_digest(digest, actor="cli")
        self.stdout.write(f"digest {id} deleted")


def get_digest(digest_id):
    # Digits only, and short enough for a 64-bit key: anything else cannot be an id.
    if not (digest_id.isascii() and digest_id.isdigit() and len(digest_id) <= 18):
        fail(f"no digest with id {digest_id}")
    try:
        return Digest.objects.get(pk=int(digest_id))
    except Digest.DoesNotExist:
        fail(f"no digest with id {digest_id}")
