from django.apps import AppConfig


class DevmailConfig(AppConfig):
    """Embedded SMTP capture and outbox page for the default `make run` set-up only."""

    name = "rundbrief.devmail"
    verbose_name = "Dev mail"
