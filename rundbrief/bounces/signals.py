"""Erasure (GDPR Art. 17) blanks the readable recipient, the raw copies and the address in the server's text.

audience.actions.erase_subscriber and purge_unconfirmed delete the Subscriber row;
the bounce log keeps only the keyed hash, which the suppression list needs anyway.
"""

from django.db.models import F, Q, Value
from django.db.models.functions import Replace
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.models import Subscriber
from rundbrief.bounces.models import BounceEvent


@receiver(pre_delete, sender=Subscriber, dispatch_uid="bounces.forget_recipient")
def forget_recipient(sender, instance, **kwargs):
    BounceEvent.objects.filter(Q(subscriber_id=instance.pk) | Q(recipient_hash=subject_hash(instance.email))).update(
        # Servers echo the address in their text ("550 5.1.1 <a@example.org>: user unknown").
        recipient="",
        raw_message=b"",
        diagnosis=Replace(F("diagnosis"), Value(instance.email), Value("[erased]")),
    )
