"""`rundbrief webhook add URL [--events …] | list [--json] | remove ID | test ID` (docs/cli.md)."""

import json

from django.core.management.base import BaseCommand, CommandError

from rundbrief.webhooks import actions, events
from rundbrief.webhooks.models import Endpoint
from rundbrief.webhooks.sender import send_test_event


def _endpoint_id(value):
    try:
        return int(value)
    except ValueError:
        raise CommandError(f"ID must be a number, not {value!r}", returncode=1) from None


class Command(BaseCommand):
    help = 'Manage webhook endpoints: the receivers of signed events (docs/integrations.md, "Webhooks").'

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Add an endpoint and print its whsec_ secret once.")
        add.add_argument("url", help="http:// or https:// address that receives the POST requests")
        add.add_argument(
            "--events",
            default="",
            help=f"comma-separated event types; all when omitted. Known: {', '.join(events.EVENT_TYPES)}",
        )
        add.add_argument("--description", default="", help="a note for the admin, e.g. the receiving system")
        listing = sub.add_parser("list", help="The endpoints: id, state, events, URL.")
        listing.add_argument("--json", action="store_true", help="one JSON array instead of lines")
        remove = sub.add_parser("remove", help="Delete an endpoint with its queued messages and delivery log.")
        remove.add_argument("id", help="the endpoint's number, as `webhook list` prints it")
        test = sub.add_parser("test", help="Send a webhook.test event now and print the HTTP status.")
        test.add_argument("id", help="the endpoint's number, as `webhook list` prints it")

    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(options)

    def _add(self, options):
        try:
            endpoint = actions.add_endpoint(
                options["url"], events=options["events"].split(","), description=options["description"]
            )
        except ValueError as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(endpoint.secret)
        self.stderr.write(
            f"Endpoint {endpoint.pk} added. Store the secret now: it is not shown again. "
            "The receiver verifies each request's webhook-signature with it."
        )

    def _list(self, options):
        rows = [
            {
                "id": e.pk,
                "url": e.url,
                "events": e.events or ["*"],
                "active": e.active,
                "description": e.description,
                "disabled_reason": e.disabled_reason,
                "failing_since": events.iso(e.failing_since) if e.failing_since else None,
            }
            for e in Endpoint.objects.order_by("pk")
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        for row in rows:
            state = "active" if row["active"] else f"disabled ({row['disabled_reason']})"
            self.stdout.write(f"{row['id']}\t{state}\t{','.join(row['events'])}\t{row['url']}")

    def _remove(self, options):
        if not actions.remove_endpoint(_endpoint_id(options["id"])):
            raise CommandError(f"no webhook endpoint with ID {options['id']}", returncode=1)
        self.stdout.write(f"removed: {options['id']}")

    def _test(self, options):
        endpoint = Endpoint.objects.filter(pk=_endpoint_id(options["id"])).first()
        if endpoint is None:
            raise CommandError(f"no webhook endpoint with ID {options['id']}", returncode=1)
        answer = send_test_event(endpoint)
        if not answer.succeeded:
            raise CommandError(f"{endpoint.url}: {answer}", returncode=1)
        self.stdout.write(str(answer.status_code))
