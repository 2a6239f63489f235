"""Erasure (GDPR Art. 17) blanks the readable recipient and the raw copies of a subscriber's bounces.

audience.actions.erase_subscriber and purge_unconfirmed delete the Subscriber row;
the bounce log keeps only the keyed hash, which the suppression list needs anyway.
"""

from django.db.models import Q
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.models import Subscriber
from rundbrief.bounces.models import BounceEvent


@receiver(pre_delete, sender=Subscriber, dispatch_uid="bounces.forget_recipient")
def forget_recipient(sender, instance, **kwargs):
    BounceEvent.objects.filter(Q(subscriber_id=instance.pk) | Q(recipient_hash=subject_hash(instance.email))).update(
        recipient="", raw_message=b""
    )
