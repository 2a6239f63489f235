from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BouncesConfig(AppConfig):
    name = "rundbrief.bounces"
    label = "bounces"
    verbose_name = _("Bounces and complaints")

    def ready(self):
        from rundbrief.bounces import signals  # noqa: F401 — connects the erasure handler
