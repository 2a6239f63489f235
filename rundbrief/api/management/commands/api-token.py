"""`rundbrief api-token create NAME | list | revoke NAME` (docs/cli.md)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from rundbrief.api import actions
from rundbrief.api.models import ApiToken


class Command(BaseCommand):
    help = "Manage bearer tokens for the admin endpoints of the HTTP API. A new token is printed once."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token and print it once (only its SHA-256 is kept).")
        create.add_argument("name", help="the client's name, recorded as the source of its consent events")
        create.add_argument(
            "--scopes",
            default="signup",
            help="comma-separated, of: signup (POST /subscriptions as this client), read, write (topics), "
            "erase; default: signup",
        )
        sub.add_parser("list", help="Names of the tokens, with creation and revocation times.")
        revoke = sub.add_parser("revoke", help="Revoke a token; requests with it get 401 from then on.")
        revoke.add_argument("name")

    def handle(self, *args, action, **options):
        if action == "create":
            name = options["name"].strip()
            if not name or len(name) > 100 or any(ord(ch) < 32 for ch in name):
                raise CommandError("NAME: 1 to 100 printable characters", returncode=1)
            scopes = [scope.strip() for scope in options["scopes"].split(",") if scope.strip()]
            try:
                _record, token = actions.issue_api_token(name, scopes)
            except ValueError as exc:
                raise CommandError(str(exc), returncode=1) from None
            except IntegrityError:
                raise CommandError(f"a token named {name!r} exists already", returncode=1) from None
            self.stdout.write(token)
            self.stderr.write("Store it now: it is not shown again. Use it as `Authorization: Bearer <token>`.")
        elif action == "list":
            for record in ApiToken.objects.all():
                state = f"revoked {record.revoked_at:%Y-%m-%d %H:%M}" if record.revoked_at else "active"
                self.stdout.write(
                    f"{record.name}\tcreated {record.created_at:%Y-%m-%d %H:%M}\t{state}\tscopes {record.scopes}"
                )
        else:
            if not actions.revoke_api_token(options["name"]):
                raise CommandError(f"no active token named {options['name']!r}", returncode=1)
            self.stdout.write(f"revoked: {options['name']}")
