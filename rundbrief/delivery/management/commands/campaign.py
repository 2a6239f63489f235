"""`rundbrief campaign create|send|status` (docs/cli.md).

Thin: parse, call create_campaign / schedule_campaign / campaign_progress, print. In the delivery
app, not in campaigns: sending and progress read and write the delivery ledger.
Every expected failure is one line on stderr and exit status 1.
"""

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from rundbrief.campaigns.authoring import CampaignError, create_campaign
from rundbrief.campaigns.models import Campaign
from rundbrief.campaigns.rendering import render_campaign
from rundbrief.delivery.actions import schedule_campaign
from rundbrief.delivery.progress import campaign_progress


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
        send = sub.add_parser("send", help="Schedule a draft campaign for sending now.")
        send.add_argument("id")
        status = sub.add_parser("status", help="State and delivery counts of a campaign.")
        status.add_argument("id")
        status.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, subcommand, **options):
        try:
            getattr(self, f"handle_{subcommand}")(**options)
        except (CampaignError, ValidationError) as exc:
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

    def handle_send(self, *, id, **options):
        campaign = get_campaign(id)
        if campaign.state != Campaign.State.DRAFT:
            fail(f"campaign {id} is {campaign.state}; only a draft can be sent")
        # Rendered once more only to show the warnings (empty digest, Gmail clipping) before it goes out.
        for warning in render_campaign(campaign).warnings:
            self.stderr.write(f"warning: {warning}")
        try:
            campaign = schedule_campaign(campaign, actor="cli")
        except ValueError as exc:  # CampaignStateError: someone else scheduled it meanwhile, or no topics
            fail(str(exc))
        self.stdout.write(f"campaign {id} {campaign.state}: {campaign.recipient_count} recipients")

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


def get_campaign(campaign_id):
    # Digits only, and short enough for a 64-bit key: anything else cannot be an id.
    if not (campaign_id.isascii() and campaign_id.isdigit() and len(campaign_id) <= 18):
        fail(f"no campaign with id {campaign_id}")
    try:
        return Campaign.objects.get(pk=int(campaign_id))
    except Campaign.DoesNotExist:
        fail(f"no campaign with id {campaign_id}")
