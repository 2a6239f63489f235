"""Test sends: a campaign as it stands, marked as a test, to a few of the editorial team's addresses.

A test copy is the real message with three differences: "[Test] " before the subject, a banner at
the top saying it went only to the team (campaigns/rendering.py `as_test_send`), and links whose
token names no subscriber, so they open the "unknown link" page and unsubscribe nobody. Nothing is
written to the delivery ledger. The campaign's history notes who sent a test and each copy's
Message-ID, never the addresses (an audit line is kept longer than an address may be). Each editor's
addresses are kept (TestAddressList) and offered again on the next preview.
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from rundbrief.audience.addresses import normalise_address
from rundbrief.campaigns.actions import record_campaign_event
from rundbrief.campaigns.models import CampaignEvent
from rundbrief.campaigns.rendering import Rendered, as_test_send, render_campaign
from rundbrief.delivery.compose import compile_campaign
from rundbrief.delivery.models import TestAddressList
from rundbrief.delivery.protocols import Claimed
from rundbrief.outbound.message import new_message_id
from rundbrief.outbound.smtp import SmtpConnection
from rundbrief.outbound.transport import parse_transport

# A test is for the team, not a way around the audience, its consent and the delivery ledger.
MAX_TEST_ADDRESSES = 10
SEPARATORS = re.compile(r"[\s,;]+")
# The public id behind the test copy's links: a token for no subscriber (the "unknown link" page).
TEST_PUBLIC_ID = "test-send"


class TestSendError(RuntimeError):
    pass


def parse_addresses(text: str) -> list[str]:
    """The addresses in `text` (separated by commas, semicolons, spaces or lines), checked and without
    repeats. A ValidationError names the first bad address; then nothing may be sent."""
    addresses = []
    for raw in SEPARATORS.split(text or ""):
        if not raw:
            continue
        try:
            address = normalise_address(raw)
        except ValidationError:
            raise ValidationError(_("Not an e-mail address: %(address)s") % {"address": raw}) from None
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ValidationError(_("Enter at least one e-mail address."))
    if len(addresses) > MAX_TEST_ADDRESSES:
        raise ValidationError(_("At most %(count)d addresses per test send.") % {"count": MAX_TEST_ADDRESSES})
    return addresses


def copy_for_test(campaign) -> Rendered:
    """What a test sends: the frozen content once there is one (what the workers send), else the
    draft rendered as it stands; marked as a test either way."""
    if campaign.frozen_html:
        rendered = Rendered(campaign.frozen_subject, campaign.frozen_html, campaign.frozen_text)
    else:
        rendered = render_campaign(campaign)
    return as_test_send(rendered)


def send_test_messages(campaign, addresses, *, actor="") -> list[str]:
    """Send one test copy to each of `addresses` (already checked: parse_addresses) over one SMTP
    connection. Returns the Message-IDs. Stops at the first refusal with TestSendError; the copies
    sent before it are in the history."""
    rendered = copy_for_test(campaign)
    message = compile_campaign(campaign, html=rendered.html, text=rendered.text, subject=rendered.subject)
    conn = SmtpConnection(parse_transport(settings.DELIVERY_SMTP_URLS[0]))
    sent = []
    try:
        for address in addresses:
            claimed = Claimed(
                delivery_id=0, campaign_id=campaign.pk, subscriber_id=None, email=address, public_id=TEST_PUBLIC_ID
            )
            # A fresh Message-ID per copy: mailbox providers drop a message whose Message-ID they have
            # already seen (RFC 5322 §3.6.4), and the second test to the same address would vanish.
            built = message.build(claimed, message_id=new_message_id(message.mid_domain))
            reply = conn.send(built.envelope_from, built.recipient, built.data)
            if reply.kind != "sent":
                raise TestSendError(_("the SMTP server answered: %(reply)s") % {"reply": reply})
            record_campaign_event(campaign, CampaignEvent.Action.TEST_SENT, actor, built.message_id)
            sent.append(built.message_id)
    finally:
        conn.close()
    return sent


def saved_test_addresses(user) -> list[str]:
    """The addresses `user` sent the last test to; empty for an editor who never sent one."""
    saved = TestAddressList.objects.filter(user=user).first()
    return saved.as_list() if saved else []


@transaction.atomic
def save_test_addresses(user, addresses):
    """Keep `addresses` as the editor's list for the next test send."""
    TestAddressList.objects.update_or_create(user=user, defaults={"addresses": "\n".join(addresses)})
