"""Builders for delivery tests: a confirmed audience and a started campaign, created in bulk.

`scheduled_campaign` builds a campaign as start_campaign leaves it (content frozen, audience
snapshotted, state sending) from fixed HTML, without rendering, so delivery tests control every byte."""

from django.utils import timezone

from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.snapshot import snapshot_audience

HTML = '<html><body><h1>Marktbericht</h1><p>Gold steigt.</p><p><a href="%%RB:unsubscribe_url%%">Abmelden</a> · <a href="%%RB:preferences_url%%">Einstellungen</a></p></body></html>'
TEXT = "Marktbericht\n\nGold steigt.\n\nAbmelden: %%RB:unsubscribe_url%%\nEinstellungen: %%RB:preferences_url%%\n"


def make_audience(topic, count, *, prefix="leser", domain="example.org"):
    now = timezone.now()
    Subscriber.objects.bulk_create(
        [
            Subscriber(email=f"{prefix}{i}@{domain}", status=Subscriber.Status.CONFIRMED, confirmed_at=now)
            for i in range(count)
        ],
        batch_size=1000,
    )
    subscribers = list(Subscriber.objects.filter(email__startswith=prefix, email__endswith=domain))
    Subscription.objects.bulk_create([Subscription(subscriber=s, topic=topic) for s in subscribers], batch_size=1000)
    return subscribers


def scheduled_campaign(topics, *, subject="Marktbericht KW 48", html=HTML, text=TEXT):
    campaign = Campaign.objects.create(
        name=subject,
        subject=subject,
        from_name="Musterhaus Edelmetalle",
        from_email="newsletter@musterhaus.example",
        state=Campaign.State.SENDING,
        scheduled_at=timezone.now(),
        started_at=timezone.now(),
        frozen_subject=subject,
        frozen_html=html,
        frozen_text=text,
    )
    campaign.topics.set(topics)
    campaign.recipient_count = snapshot_audience(campaign)
    campaign.save(update_fields=["recipient_count"])
    return campaign
