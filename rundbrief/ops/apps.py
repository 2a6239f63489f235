from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: serve, ensure-admin, probes, metrics, deploy checks, logs, retention, backup."""

    name = "rundbrief.ops"
    verbose_name = "Operations"

    def ready(self):
        from django.contrib import admin

        from rundbrief.ops import checks  # noqa: F401  (registers the deploy checks)
        from rundbrief.ops.loginthrottle import ThrottledLoginForm

        admin.site.login_form = ThrottledLoginForm
        from rundbrief.ops.logs import configure_structlog

        configure_structlog()
