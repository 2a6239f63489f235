import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the first administrator with a random password and print the login once. "
        "Does nothing when a superuser exists already (the password is stored only as a hash)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write(
                "admin login: an administrator exists already "
                f"(forgot the password? `rundbrief changepassword {username}`)"
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"admin login created: user {username}  password {password}"))
        self.stdout.write("  (shown this once only; it is stored as a salted hash)")
