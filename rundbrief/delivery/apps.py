from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    name = "rundbrief.delivery"
    verbose_name = _("Delivery")

    def ready(self):
        from django.db.models.signals import post_delete

        from rundbrief.audience.actions import register_on_confirmed
        from rundbrief.audience.queries import register_export_section
        from rundbrief.campaigns.models import Campaign
        from rundbrief.delivery.queries import deliveries_for_export, welcome_for_export
        from rundbrief.delivery.welcome import queue_welcome

        # GDPR Art. 15: what was sent to whom belongs in the subscriber's export.
        register_export_section("deliveries", deliveries_for_export)
        register_export_section("welcome_mail", welcome_for_export)
        # The welcome mail is owed in the same transaction that confirms her (delivery/welcome.py).
        register_on_confirmed(queue_welcome)
        # A campaign deleted in the admin: Django's cascade has deleted its ledger rows; on PostgreSQL
        # their partition is left, an empty table, until this drops it (delivery/partitions.py).
        post_delete.connect(_drop_ledger, sender=Campaign, dispatch_uid="delivery-drop-ledger")


def _drop_ledger(sender, instance, **kwargs):
    from rundbrief.delivery.partitions import drop_campaign_rows  # lazy: apps load before models

    drop_campaign_rows(instance.pk)
