"""What a bounce or complaint does to the audience. The receiver, the IMAP poller, the delivery engine
and the admin all call these.

The reason word (bounces/reasons.py) decides, not the status class (table in docs/bounces.md, "Policy"):

* suppress — the address is gone (userunknown, hostunknown, hasmoved, notaccept): suppressed at
  once, the delivery marked `bounced`;
* count — the mailbox's state or a transient failure: counted; BOUNCE_SOFT_LIMIT of them (distinct
  messages) within BOUNCE_SOFT_DAYS days suppress the address;
* alert — about us, the sender (blocked, spamdetected, policyviolation…): an OperatorAlert per
  reason and receiving domain, the recipient is NOT suppressed; a domain that refuses all of a
  campaign's mail (BOUNCE_DOMAIN_PAUSE_MIN) pauses the campaign;
* complaint (RFC 5965) — consent withdrawn and the address suppressed; a campaign whose complaint
  rate passes BOUNCE_COMPLAINT_PAUSE_RATE is paused;
* ignore — an auto-reply (RFC 3834) is not recorded.

Suppressions and withdrawals go through rundbrief.audience.actions, which write
their consent-ledger events. Only bounces that carry one of our verified ids (VERP
return path, Message-ID, or a delivery the engine names) change anything; others
are logged as `unverified`, so a forged "bounce" cannot unsubscribe a reader.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from rundbrief.audience.actions import lift_suppression, suppress_address, withdraw_consent
from rundbrief.audience.addresses import normalise_address, subject_hash
from rundbrief.audience.models import Subscriber, Suppression
from rundbrief.bounces import reasons
from rundbrief.bounces.models import BounceEvent, OperatorAlert
from rundbrief.bounces.parse import classify, reply_failure
from rundbrief.bounces.queries import suppression_to_review
from rundbrief.bounces.reasons import Policy, Reason
from rundbrief.campaigns.actions import CampaignStateError, pause_campaign
from rundbrief.campaigns.models import Campaign, CampaignEvent
from rundbrief.delivery.models import Delivery
from rundbrief.outbound import verp
from rundbrief.webhooks import events as webhooks

log = logging.getLogger(__name__)
Kind, Source, Outcome = BounceEvent.Kind, BounceEvent.Source, BounceEvent.Outcome
ACTIVE = [Campaign.State.SCHEDULED, Campaign.State.SENDING]


def _address(recipient):
    try:
        return normalise_address(recipient) if recipient else None
    except ValidationError:
        return None


def _delivery(delivery_id):
    if delivery_id is None:
        return None
    return Delivery.objects.select_related("subscriber", "campaign").filter(pk=delivery_id).first()


def _create_event(kind, recipient, *, status, reason, diagnosis, delivery, campaign, source, raw):
    address = _address(recipient)
    subscriber = delivery.subscriber if delivery is not None else None
    if subscriber is None and address:
        subscriber = Subscriber.objects.filter(email=address).first()
    if campaign is None and delivery is not None:
        campaign = delivery.campaign
    return BounceEvent.objects.create(
        delivery=delivery,
        subscriber=subscriber,
        campaign=campaign,
        kind=kind,
        status=status or "",
        recipient_hash=subject_hash(address) if address else "",
        recipient=address or "",
        reason=reason,
        diagnosis=(diagnosis or "")[:500],
        source=source,
        raw_message=raw or b"",
    ), address


def record_bounce(
    *,
    reason,
    diagnosis="",
    recipient=None,
    status="",
    delivery=None,
    campaign=None,
    source=Source.API,
    raw=b"",
    verified=True,
) -> BounceEvent | None:
    """Record one failure and apply the policy of its reason word (module docstring); None for an auto-reply."""
    rule = reasons.policy(reason)
    if rule == Policy.IGNORE:
        return None
    if rule == Policy.COMPLAINT:
        return record_complaint(
            recipient=recipient,
            delivery=delivery,
            campaign=campaign,
            source=source,
            diagnosis=diagnosis,
            raw=raw,
            verified=verified,
        )
    with transaction.atomic():
        event, address = _create_event(
            reasons.kind(reason),
            recipient,
            status=status,
            reason=reason,
            diagnosis=diagnosis,
            delivery=delivery,
            campaign=campaign,
            source=source,
            raw=raw,
        )
        domain = (address or "").rpartition("@")[2]
        if not verified:
            event.outcome = Outcome.UNVERIFIED
        elif rule == Policy.ALERT:
            raise_operator_alert(status, reason, domain=domain, diagnosis=diagnosis)
            event.outcome = Outcome.ALERTED
        elif rule == Policy.SUPPRESS and address:
            suppress_address(address, reason=Suppression.Reason.BOUNCED, source=f"bounce:{reason}:{status}:{source}")
            event.outcome = Outcome.SUPPRESSED
        elif rule == Policy.COUNT and address:
            if soft_bounce_count(event.recipient_hash) >= settings.BOUNCE_SOFT_LIMIT:
                suppress_address(
                    address,
                    reason=Suppression.Reason.BOUNCED,
                    source=f"bounce:{reason}×{settings.BOUNCE_SOFT_LIMIT}:{status}:{source}",
                )
                event.outcome = Outcome.SUPPRESSED
            else:
                event.outcome = Outcome.COUNTED
        event.save(update_fields=["outcome"])
        if rule == Policy.SUPPRESS and verified and delivery is not None:
            _mark_bounced(delivery.pk)
    if rule == Policy.ALERT and verified and event.campaign_id and domain:
        pause_if_domain_refuses_campaign(event.campaign_id, domain)
    return event


def soft_bounce_count(recipient_hash) -> int:
    """Soft bounces of distinct messages within BOUNCE_SOFT_DAYS: repeated delay warnings for one
    message (Postfix sends one after 4 hours, Exim every few hours) count once."""
    since = timezone.now() - timedelta(days=settings.BOUNCE_SOFT_DAYS)
    recent = BounceEvent.objects.filter(recipient_hash=recipient_hash, kind=Kind.SOFT, received_at__gte=since)
    return recent.exclude(delivery=None).values("delivery").distinct().count() + recent.filter(delivery=None).count()


def _mark_bounced(delivery_id):
    # Only a delivery whose outcome the engine has already written: a row still `sending` belongs to a worker.
    Delivery.objects.filter(pk=delivery_id, state__in=[Delivery.State.SENT, Delivery.State.FAILED]).update(
        state=Delivery.State.BOUNCED, updated_at=timezone.now()
    )


def record_complaint(
    *, recipient=None, delivery=None, campaign=None, source=Source.API, diagnosis="", raw=b"", verified=True
) -> BounceEvent:
    """A spam complaint: withdraw consent (the reader said "I do not want this"), suppress, check the rate."""
    with transaction.atomic():
        event, address = _create_event(
            Kind.COMPLAINT,
            recipient,
            status="",
            reason=Reason.FEEDBACK,
            diagnosis=diagnosis or "spam complaint",
            delivery=delivery,
            campaign=campaign,
            source=source,
            raw=raw,
        )
        # Before the withdrawal and suppression it leads to, so that a receiver sees the cause first.
        webhooks.emit(
            "complaint.received",
            {
                "subscriber": event.subscriber.public_id if event.subscriber else None,
                "email": address or (event.subscriber.email if event.subscriber else None),
                "campaign": event.campaign_id,
                "verified": verified,
            },
            subscriber_id=event.subscriber_id,
        )
        if not verified:
            event.outcome = Outcome.UNVERIFIED
        elif address or event.subscriber:
            if event.subscriber is not None:
                withdraw_consent(event.subscriber, source=f"complaint:{source}")
            if address:
                suppress_address(address, reason=Suppression.Reason.COMPLAINED, source=f"complaint:{source}")
            event.outcome = Outcome.WITHDRAWN
        event.save(update_fields=["outcome"])
    if verified and event.campaign_id:
        pause_if_complaint_rate_too_high(event.campaign_id)
    return event


def record_smtp_rejection(delivery_id: int, reply_text: str) -> BounceEvent | None:
    """The hook for a synchronous 5xx reply the delivery worker gets (ops/worker.py calls it after the outcome is recorded).

    The same classifier as for DSNs gives the reason: "550 5.1.1 user unknown" → userunknown
    (suppress), "552 5.2.2 mailbox full" → mailboxfull (count), "554 5.7.1 … blocked using
    zen.spamhaus.org" → blocked (alert). Returns None when the delivery does not exist.
    """
    delivery = _delivery(delivery_id)
    if delivery is None:
        return None
    failure = reply_failure(reply_text or "")
    recipient = delivery.subscriber.email if delivery.subscriber else None
    return record_bounce(
        reason=failure.reason,
        diagnosis=failure.diagnosis,
        recipient=recipient,
        status=failure.status or "5.0.0",
        delivery=delivery,
        source=Source.SMTP_SYNC,
    )


def record_message(raw: bytes, *, source, envelope_recipient=None) -> BounceEvent | None:
    """Classify one inbound message and record it; None for anything that is not a bounce or complaint."""
    result = classify(raw, envelope_recipient)
    if not result.is_bounce:
        return None
    delivery = _delivery(result.delivery_id)
    recipient, keep_raw, reason, status = result.recipient, raw, result.reason, result.status
    if delivery is not None:
        # VERP names the address we sent to; the report may name a forwarding target instead.
        recipient = delivery.subscriber.email if delivery.subscriber else None
        if delivery.subscriber is None:  # erased (GDPR Art. 17): keep no copy of the address
            keep_raw = b""
        # A report about several recipients: act on the failure of the address we sent to, as named by VERP.
        mine = [f for f in result.failures if recipient and (f.address or "").lower() == recipient.lower()]
        if mine:
            reason, status = mine[0].reason, mine[0].status
    if reason == Reason.FEEDBACK and result.kind == reasons.SENDER_POLICY:
        # A DMARC/SPF failure report (RFC 6591 auth-failure) is about our authentication, not a reader's
        # complaint: alert the operator, never withdraw anyone's consent.
        reason = Reason.SECURITYERROR
    return record_bounce(
        reason=reason or Reason.UNDEFINED,
        diagnosis=result.diagnosis,
        recipient=recipient,
        status=status or "",
        delivery=delivery,
        source=source,
        raw=keep_raw,
        verified=delivery is not None,
    )


def unsubscribe_by_mail(address: str, *, source="mailto") -> bool:
    """Mail to the List-Unsubscribe mailto address (RFC 2369 §3.2) withdraws consent; the content is irrelevant."""
    delivery = _delivery(verp.parse_return_path(address or "", prefix="unsubscribe"))
    if delivery is None or delivery.subscriber is None:
        return False
    withdraw_consent(delivery.subscriber, source=f"list-unsubscribe:{source}:delivery {delivery.pk}")
    return True


def raise_operator_alert(status, reason, *, domain="", diagnosis=""):
    """One alert per (reason, receiving domain), e.g. `blocked:gmail.com`, counted; a repeat re-opens an
    acknowledged alert. The message names both, so the operator knows what to fix and where."""
    key = f"{reason}:{domain}"[:200]
    message = f"{reason} by {domain or 'unknown domain'} ({status or 'no code'}): {diagnosis or 'no text'}"
    now = timezone.now()
    with transaction.atomic():
        alert = OperatorAlert.objects.select_for_update().filter(key=key).first()
        if alert is None:
            try:
                with transaction.atomic():
                    return OperatorAlert.objects.create(key=key, status=status or "", message=message)
            except IntegrityError:  # created by a concurrent receiver
                alert = OperatorAlert.objects.select_for_update().get(key=key)
        alert.count += 1
        alert.last_seen, alert.status, alert.message = now, status or "", message
        alert.acknowledged, alert.acknowledged_at = False, None
        alert.save()
        return alert


def alert_webhook_disabled(endpoint, reason):
    """A webhook endpoint switched off after a day of failures (webhooks/actions.py): an operator alert
    beside the sending ones, re-opened if it happens again. Registered in bounces/apps.py."""
    now = timezone.now()
    alert, created = OperatorAlert.objects.get_or_create(
        key=f"webhook:{endpoint.pk}", defaults={"message": f"webhook endpoint {endpoint.url} disabled: {reason}"}
    )
    if not created:
        alert.count += 1
        alert.last_seen, alert.message = now, f"webhook endpoint {endpoint.url} disabled: {reason}"
        alert.acknowledged, alert.acknowledged_at = False, None
        alert.save()
    return alert


def acknowledge_alerts(alerts) -> int:
    return OperatorAlert.objects.filter(pk__in=[a.pk for a in alerts]).update(
        acknowledged=True, acknowledged_at=timezone.now()
    )


@dataclass(frozen=True)
class Rates:
    sent: int
    hard: int
    soft: int
    complaints: int

    @property
    def bounce_rate(self):
        return (self.hard + self.soft) / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self):
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def complaint_warning(self):
        return self.sent > 0 and self.complaint_rate > settings.BOUNCE_COMPLAINT_WARN_RATE


def campaign_rates(campaign_id) -> Rates:
    """Rates over messages the receiving servers accepted (sent_at set, later bounced ones included)."""
    sent = Delivery.objects.filter(campaign_id=campaign_id, sent_at__isnull=False).count()
    counts = dict.fromkeys(Kind.values, 0)
    for kind in (
        BounceEvent.objects.filter(campaign_id=campaign_id)
        .exclude(outcome=Outcome.UNVERIFIED)
        .values_list("kind", flat=True)
    ):
        counts[kind] += 1
    return Rates(sent, counts[Kind.HARD], counts[Kind.SOFT], counts[Kind.COMPLAINT])


def pause_if_complaint_rate_too_high(campaign_id) -> bool:
    """Gmail and Yahoo reject bulk senders above 0.3 % complaints. Pause only from BOUNCE_COMPLAINT_MIN_SENT
    accepted messages on, so the first complaint of a young campaign cannot stop it (docs/bounces.md)."""
    rates = campaign_rates(campaign_id)
    if rates.sent < settings.BOUNCE_COMPLAINT_MIN_SENT or rates.complaint_rate <= settings.BOUNCE_COMPLAINT_PAUSE_RATE:
        return False
    campaign = Campaign.objects.filter(pk=campaign_id, state__in=[Campaign.State.SCHEDULED, Campaign.State.SENDING])
    campaign = campaign.first()
    if campaign is None:
        return False
    reason = (
        f"complaint rate {rates.complaint_rate:.2%} ({rates.complaints} of {rates.sent}) "
        f"above {settings.BOUNCE_COMPLAINT_PAUSE_RATE:.1%}"
    )
    try:
        pause_campaign(campaign, reason=reason, actor="bounces")
    except CampaignStateError:  # finished or paused meanwhile
        return False
    log.warning("campaign %s paused: %s", campaign_id, reason)
    return True


def pause_if_domain_refuses_campaign(campaign_id, domain) -> bool:
    """Pause a scheduled or sending campaign once one receiving domain has refused at least
    BOUNCE_DOMAIN_PAUSE_MIN of its messages for a sender reason (blocked, spamdetected…) and accepted
    none since the first of them (accepted: the server took it and no bounce came back for it).
    Sending on would only deepen the blocklisting and waste the rest of the list at that domain;
    the operator fixes the cause and resumes. Only refusals after the last resume count."""
    campaign = Campaign.objects.filter(pk=campaign_id, state__in=ACTIVE).first()
    if campaign is None:
        return False
    at_domain = f"@{domain}"
    # kind as well as outcome: the (campaign, kind) index finds a campaign's refusals without a scan.
    refusals = BounceEvent.objects.filter(
        campaign_id=campaign_id, kind=Kind.SENDER_POLICY, outcome=Outcome.ALERTED, recipient__iendswith=at_domain
    )
    resumed = campaign.events.filter(action=CampaignEvent.Action.RESUMED).order_by("-occurred_at").first()
    if resumed is not None:
        refusals = refusals.filter(received_at__gt=resumed.occurred_at)
    count = refusals.count()
    if count < settings.BOUNCE_DOMAIN_PAUSE_MIN:
        return False
    first = refusals.order_by("received_at").values_list("received_at", flat=True).first()
    accepted = Delivery.objects.filter(
        campaign_id=campaign_id, sent_at__gte=first, subscriber__email__iendswith=at_domain, bounces=None
    )
    if accepted.exists():
        return False
    words = ", ".join(sorted(set(refusals.values_list("reason", flat=True))))
    reason = f"{domain} refused {count} messages ({words}) and accepted none since {first:%Y-%m-%d %H:%M} UTC"
    try:
        pause_campaign(campaign, reason=reason, actor="bounces")
    except CampaignStateError:  # finished or paused meanwhile
        return False
    log.warning("campaign %s paused: %s", campaign_id, reason)
    return True


def lift_bounce_suppression(address, *, actor) -> bool:
    """Lift a suppression made by a bounce whose reason is not about the address (queries.suppressions_to_review);
    False for any other suppression (a complaint, an erasure, a mailbox that is really gone)."""
    if suppression_to_review(address) is None:
        return False
    return lift_suppression(address, reason=Suppression.Reason.BOUNCED, source=f"bounce-review:{actor}")


def purge_raw_messages(days=None) -> int:
    """Delete the raw copies older than BOUNCE_RAW_RETENTION_DAYS (GDPR Art. 5(1)(e): storage limitation)."""
    days = settings.BOUNCE_RAW_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    return BounceEvent.objects.filter(received_at__lt=cutoff).exclude(raw_message=b"").update(raw_message=b"")
