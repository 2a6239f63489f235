"""Webhook state changes: endpoints added, changed, removed, disabled; a message replayed; old ones purged.

The admin, the `webhook` command and the sender call these; nothing else writes endpoints. Events
themselves are written by `events.emit`, in the transaction of the action that caused them.
"""

import logging
from datetime import timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rundbrief.webhooks import signatures
from rundbrief.webhooks.events import EVENT_TYPES
from rundbrief.webhooks.models import Endpoint, WebhookMessage

log = logging.getLogger(__name__)
State = WebhookMessage.State
RETENTION_DAYS = 30  # delivered and given-up messages are kept this long as the delivery log

# Called with (endpoint, reason) after an endpoint was disabled for failing. Apps above register
# theirs in AppConfig.ready() (bounces: an operator alert in the admin), so this app imports none.
_on_disabled = []


def register_on_disabled(fn):
    if fn not in _on_disabled:
        _on_disabled.append(fn)


def check_url(url):
    """The URL as stored, or ValueError. Only http and https. Private and loopback addresses are
    allowed on purpose: a self-hosted shop or CRM is often on the LAN (docs/integrations.md)."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(_("A webhook URL must start with http:// or https:// and name a host: %(url)s") % {"url": url})
    if len(url) > Endpoint._meta.get_field("url").max_length or any(ch.isspace() for ch in url):
        raise ValueError(_("A webhook URL may not contain spaces or be longer than 500 characters."))
    return url


def check_events(events):
    """The event types as stored (empty: all), or ValueError naming the unknown one."""
    chosen = sorted({e.strip() for e in events if e.strip()})
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        raise ValueError(
            _("Unknown webhook event %(event)s; known: %(known)s")
            % {"event": unknown[0], "known": ", ".join(EVENT_TYPES)}
        )
    return chosen


def add_endpoint(url, *, events=(), description=""):
    """A new active endpoint with a fresh `whsec_` secret (shown to the operator once)."""
    return Endpoint.objects.create(
        url=check_url(url), events=check_events(events), description=description[:200], secret=signatures.new_secret()
    )


def change_endpoint(endpoint, *, url, events, description, active):
    """Change what the admin's form changes. Switching an endpoint on again clears its failure record."""
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.url, endpoint.events, endpoint.description = check_url(url), check_events(events), description[:200]
        if active and not endpoint.active:
            endpoint.disabled_reason, endpoint.failing_since = "", None
        endpoint.active = active
        endpoint.save()
    return endpoint


def remove_endpoint(endpoint_id):
    """Delete the endpoint with its queued messages and delivery log; False if there is none."""
    return Endpoint.objects.filter(pk=endpoint_id).delete()[0] > 0


def disable_endpoint(endpoint_id, reason):
    """Stop sending to a failing endpoint: its messages wait until it is switched on again. Alerts
    the operator: an ERROR line in the log and what the apps above registered."""
    with transaction.atomic():
        if not Endpoint.objects.filter(pk=endpoint_id, active=True).update(active=False, disabled_reason=reason[:300]):
            return False  # already off (another worker got there first)
        endpoint = Endpoint.objects.get(pk=endpoint_id)
        for fn in _on_disabled:
            fn(endpoint, reason)
    log.error("webhook endpoint %s disabled: %s", endpoint_id, reason)
    return True


def replay_message(message, *, now=None):
    """Send a delivered or given-up message again: a new series of attempts with the same `webhook-id`
    (the receiver's idempotency key: it is the same event). False if it is still queued or in flight."""
    now = now or timezone.now()
    return (
        WebhookMessage.objects.filter(pk=message.pk, state__in=[State.DELIVERED, State.FAILED]).update(
            state=State.WAITING,
            attempts=0,
            next_attempt_at=None,
            lease_until=None,
            worker="",
            delivered_at=None,
            series_started_at=now,
        )
        > 0
    )


def purge_old_messages(days=RETENTION_DAYS, *, now=None):
    """Storage limitation (GDPR Art. 5(1)(e)): delivered and given-up messages older than `days` go,
    their attempts with them. Run by the workers' daily housekeeping."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    done = WebhookMessage.objects.filter(state__in=[State.DELIVERED, State.FAILED], series_started_at__lt=cutoff)
    return done.delete()[1].get(WebhookMessage._meta.label, 0)
