"""A campaign's frozen content bound to the message builder (outbound/message.py), compiled once per campaign.

What makes a copy a newsletter copy is added here: List-Id, Feedback-ID,
List-Unsubscribe with one-click POST (RFC 8058), the VERP Return-Path and a
Message-ID derived from (campaign, delivery), so a copy resent after a crash is
recognisably the same message.
"""

from django.conf import settings

from rundbrief.audience.links import recipient_links
from rundbrief.newsroom.models import SiteProfile
from rundbrief.outbound import verp
from rundbrief.outbound.keys import signing_keys
from rundbrief.outbound.message import (
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
    CompiledMessage,
    OutgoingMessage,
    header_value,
    no_line_breaks,
)


class CampaignMessage:
    """A compiled campaign that builds messages for claimed delivery rows (protocols.Claimed)."""

    def __init__(self, compiled: CompiledMessage, campaign_id: int, links=recipient_links, translations=None):
        self.compiled = compiled
        self.campaign_id = campaign_id
        self.links = links  # (public id, language) → (unsubscribe URL, preference-centre URL)
        # language → the same campaign compiled with its layout in that language; others get `compiled`
        self.translations = translations or {}
        self.from_domain = compiled.from_domain
        self.bounce_domain = verp.bounce_domain(compiled.from_email)
        self.mid_domain = compiled.from_email.rpartition("@")[2]

    def build(self, claimed, now=None, message_id=None) -> OutgoingMessage:
        """`message_id`: instead of the one derived from (campaign, delivery); test sends have no delivery row."""
        delivery_id = claimed.delivery_id
        language = claimed.language if claimed.language in self.translations else ""
        unsubscribe_url, preferences_url = self.links(claimed.public_id, language or None)
        unsubscribe_mailto = verp.unsubscribe_mailbox(delivery_id, self.bounce_domain)
        return self.translations.get(language, self.compiled).build(
            claimed.email,
            {UNSUBSCRIBE_URL: unsubscribe_url, PREFERENCES_URL: preferences_url},
            message_id=message_id or verp.message_id(self.campaign_id, delivery_id, self.mid_domain),
            envelope_from=verp.return_path(delivery_id, self.bounce_domain),
            headers=[("List-Unsubscribe", f"<{unsubscribe_url}>, <mailto:{unsubscribe_mailto}?subject=unsubscribe>")],
            now=now,
        )


def campaign_headers(campaign_id, from_email, list_name="", reply_to="", *, feedback_id=None):
    """The headers every copy of a campaign carries besides From, Subject and the MIME ones (and the
    welcome mail's, with its own `feedback_id`)."""
    no_line_breaks(reply_to)
    list_id = settings.LIST_ID or f"newsletter.{from_email.rpartition('@')[2]}"
    headers = [
        ("List-Id", f"{header_value(list_name)} <{list_id}>" if list_name else f"<{list_id}>"),
        # Gmail's Feedback Loop groups complaints by these fields (campaign:type:sender).
        ("Feedback-ID", feedback_id or f"c{campaign_id}:newsletter:rundbrief"),
        # RFC 8058 §3.1: one-click unsubscription by POST to the List-Unsubscribe https URI.
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]
    if reply_to:
        headers.append(("Reply-To", reply_to))
    return headers


def compile_campaign(campaign, *, html=None, text=None, subject=None) -> CampaignMessage:
    """Compile a started campaign's frozen content, in each language it was frozen in (or the given
    draft content, for test sends: the default language only)."""
    headers = campaign_headers(
        campaign.pk, campaign.from_email, SiteProfile.load().site_name, reply_to=campaign.reply_to
    )

    def compiled(subject, html, text):
        return CompiledMessage(
            subject=subject,
            html_body=html,
            text_body=text,
            from_name=campaign.from_name,
            from_email=campaign.from_email,
            headers=headers,
            placeholders=(UNSUBSCRIBE_URL, PREFERENCES_URL),
            signing_keys=signing_keys(campaign.from_email),
        )

    if html is not None:
        return CampaignMessage(compiled(subject, html, text), campaign.pk)
    translations = {
        language: compiled(variant["subject"], variant["html"], variant["text"])
        for language, variant in (campaign.frozen_translations or {}).items()
    }
    default = compiled(campaign.frozen_subject, campaign.frozen_html, campaign.frozen_text)
    return CampaignMessage(default, campaign.pk, translations=translations)
