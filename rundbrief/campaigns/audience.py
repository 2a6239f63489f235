"""Who a campaign would reach right now: confirmed subscribers of any of its topics.

The same rule as the snapshot that writes the delivery ledger when sending starts
(delivery/snapshot.py), as a count for the confirmation page and the schedule event. The
number can change until sending starts: people confirm and withdraw meanwhile.
"""

from django.db.models import Exists, OuterRef

from rundbrief.audience.models import Subscriber, Subscription


def audience_count(campaign) -> int:
    topic_ids = list(campaign.topics.values_list("pk", flat=True))
    if not topic_ids:
        return 0
    # EXISTS rather than a join: a subscriber of two of the topics counts once, without DISTINCT.
    subscribed = Subscription.objects.filter(subscriber=OuterRef("pk"), topic_id__in=topic_ids)
    return Subscriber.objects.filter(status=Subscriber.Status.CONFIRMED).filter(Exists(subscribed)).count()
