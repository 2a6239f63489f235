from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BouncesConfig(AppConfig):
    name = "rundbrief.bounces"
    label = "bounces"
    verbose_name = _("Bounces and complaints")

    def ready(self):
        from rundbrief.audience.queries import register_export_section
        from rundbrief.audience.segments import SegmentField, register_segment_field
        from rundbrief.bounces import signals  # noqa: F401 — connects the erasure handler
        from rundbrief.bounces.actions import alert_webhook_disabled
        from rundbrief.bounces.queries import bounces_for_export, soft_bounces_condition
        from rundbrief.webhooks.actions import register_on_disabled

        # GDPR Art. 15: the bounce log names the address too; after the deliveries (INSTALLED_APPS order).
        register_export_section("bounces", bounces_for_export)
        # A webhook endpoint disabled after a day of failures is the operator's to fix, like a blocklisting.
        register_on_disabled(alert_webhook_disabled)
        # Segments may test the bounce state the bounce log records (docs/segments.md).
        operators = {"at_least": "count", "fewer_than": "count"}
        register_segment_field(SegmentField("soft_bounces", _("soft bounces"), operators, soft_bounces_condition))
