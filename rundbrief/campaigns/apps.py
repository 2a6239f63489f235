from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "rundbrief.campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from rundbrief.campaigns.demo import load_demo_welcome
        from rundbrief.newsroom.actions import register_demo_content

        # The newsroom's `load-demo` cannot import campaigns (docs/architecture.md): we hand it our part.
        register_demo_content(load_demo_welcome)
