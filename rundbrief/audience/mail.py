"""Service mail of the audience: the double-opt-in request, the data-export link and a fresh preference link.

Neutral (UWG §7(2) Nr. 2: a confirmation request that advertises is itself
advertising sent without consent): no product content, no tracking pixel,
nothing the requester typed. Each message gets a Message-ID we generate, so the
ledger can name the exact mail that asked for confirmation, and
`Auto-Submitted: auto-generated` (RFC 3834 §5), so auto-responders stay quiet.

Built by the outbound message builder and sent by its SMTP client, as campaign
mail is (docs/decisions.md, "One outbound layer"): the templates
audience/email/<name>.txt and .html are rendered once with placeholders for the
link, and each recipient's copy is a substitution, DKIM-signed when keys are
configured for the From domain.
"""

import time
from email.utils import parseaddr
from smtplib import SMTPException
from urllib.parse import urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from rundbrief.audience import links, outbox
from rundbrief.newsroom.models import SiteProfile
from rundbrief.outbound.keys import signing_keys
from rundbrief.outbound.message import CompiledMessage, new_message_id, placeholder
from rundbrief.outbound.smtp import SmtpConnection
from rundbrief.outbound.transport import service_transport

SERVICE_HEADERS = [("Auto-Submitted", "auto-generated")]


class ServiceMailError(SMTPException):
    """The SMTP server did not take a service mail."""


def site_links(language):
    """The site's name and links in `language`: its imprint and privacy paths under her prefix."""
    return SiteProfile.load().mail_links(language)


class ServiceMail:
    """audience/email/<template>.txt and .html rendered once in `language`, with `%%RB:<link>%%`
    where each recipient's link goes; `send` builds one recipient's copy and sends it.

    `site`: site_links(language), if already read."""

    def __init__(self, template, subject, context, language, *, link, site=None):
        with translation.override(language):
            context = {**(site or site_links(language)), **context, link: placeholder(link)}
            text = render_to_string(f"audience/email/{template}.txt", context)
            html = render_to_string(f"audience/email/{template}.html", context)
        from_name, from_email = parseaddr(settings.DEFAULT_FROM_EMAIL)
        self.template, self.link = template, link
        self.domain = urlsplit(settings.SITE_URL).hostname or "localhost"  # of the Message-IDs
        self.compiled = CompiledMessage(
            subject=str(subject),
            html_body=html,
            text_body=text,
            from_name=from_name,
            from_email=from_email,
            headers=SERVICE_HEADERS,
            placeholders=(link,),
            signing_keys=signing_keys(from_email),
        )

    def send(self, to, url, connection=None) -> str:
        """Send `to`'s copy, with `url` as its link; returns the Message-ID, raises if the server did not take it.

        `connection`: an SMTP connection of the caller's, left open for its next mail; by default
        the mail thread's batch connection, or one of its own for this mail."""
        built = self.compiled.build(to, {self.link: url}, message_id=new_message_id(self.domain))
        smtp = connection or outbox.smtp_connection()
        own = smtp is None
        if own:
            smtp = SmtpConnection(service_transport())
        try:
            reply = smtp.send(built.envelope_from, built.recipient, built.data)
        finally:
            if own:
                smtp.close()
        if reply.kind != "sent":
            raise ServiceMailError(f"{self.template} mail not accepted: {reply}")
        return built.message_id


def _confirmation(language, topic_names, site=None):
    """The confirmation request of a language and a choice of topics, compiled."""
    with translation.override(language):
        subject = _("Please confirm your newsletter subscription")
    context = {"topic_names": list(topic_names), "days": settings.RUNDBRIEF_UNCONFIRMED_DAYS}
    return ServiceMail("confirm", subject, context, language, link="confirm_url", site=site)


def send_confirmation_request(subscriber, nonce, topic_names, connection=None) -> str:
    url = links.confirm_url(subscriber.public_id, nonce, subscriber.language)
    return _confirmation(subscriber.language, topic_names).send(subscriber.email, url, connection)


class ConfirmationMails:
    """The confirmation requests of one batch (rundbrief/audience/confirmations.py) over one SMTP connection.

    Every request mail of a language and a choice of topics differs from the others
    only in its recipient, Message-ID and link, so it is compiled once per such group
    and each copy is a substitution (the templates and the encoding cost more than
    the SMTP conversation: docs/benchmarks.md, sign-up). The connection is the
    outbound client's, pipelined (RFC 2920) where the server offers it.
    """

    REFRESH_SECONDS = 60  # compiled mails follow edits of the site profile within a minute

    def __init__(self):
        self.made_at = time.monotonic()
        self.settings = self._settings()
        self.connection = SmtpConnection(service_transport())  # connects with the first mail
        self.compiled = {}
        self.profile = None  # the site profile, read once when the first mail is compiled

    def send(self, subscriber, nonce, topic_names) -> str:
        """Send one request mail; returns its Message-ID, raises if the server did not take it."""
        language = subscriber.language
        key = (language, tuple(topic_names))
        if key not in self.compiled:
            if self.profile is None:
                self.profile = SiteProfile.load()
            self.compiled[key] = _confirmation(language, topic_names, self.profile.mail_links(language))
        url = links.confirm_url(subscriber.public_id, nonce, language)
        return self.compiled[key].send(subscriber.email, url, self.connection)

    @staticmethod
    def _settings():
        return (settings.SMTP_URL, settings.SITE_URL, settings.DEFAULT_FROM_EMAIL)

    def stale(self):
        """True once it should be made anew: older than REFRESH_SECONDS (the site profile may have
        changed), or the mail settings differ from those it was made with (tests change them)."""
        return time.monotonic() - self.made_at > self.REFRESH_SECONDS or self.settings != self._settings()

    def close(self):
        self.connection.close()  # QUIT; what the server accepted before stays accepted


def send_export_link(subscriber) -> str:
    with translation.override(subscriber.language):
        subject = _("Your data export")
    context = {"hours": settings.RUNDBRIEF_EXPORT_LINK_HOURS}
    mail = ServiceMail("export", subject, context, subscriber.language, link="export_url")
    return mail.send(subscriber.email, links.export_url(subscriber.public_id, subscriber.language))


def send_preferences_link(subscriber) -> str:
    with translation.override(subscriber.language):
        subject = _("Your link to the newsletter settings")
    context = {"days": settings.RUNDBRIEF_PREFERENCE_LINK_DAYS}
    mail = ServiceMail("preferences", subject, context, subscriber.language, link="preferences_url")
    return mail.send(subscriber.email, links.preferences_url(subscriber.public_id, subscriber.language))
