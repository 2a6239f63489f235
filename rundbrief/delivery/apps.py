from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    name = "rundbrief.delivery"
    verbose_name = _("Delivery")

    def ready(self):
        from rundbrief.audience.queries import register_export_section
        from rundbrief.delivery.queries import deliveries_for_export

        # GDPR Art. 15: what was sent to whom belongs in the subscriber's export.
        register_export_section("deliveries", deliveries_for_export)
