from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operational commands: serve, ensure-admin."""

    name = "rundbrief.ops"
    verbose_name = "Operations"
