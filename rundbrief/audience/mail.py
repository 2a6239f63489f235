"""Service mail of the audience: the double-opt-in request and the data-export link.

Neutral (UWG §7(2) Nr. 2: a confirmation request that advertises is itself
advertising sent without consent): no product content, no tracking pixel,
nothing the requester typed. Each message gets a Message-ID we
generate, so the ledger can name the exact mail that asked for confirmation.
"""

import html
import time
from email.utils import parseaddr
from smtplib import SMTPException
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from rundbrief.audience import outbox, tokens
from rundbrief.delivery.smtp import SmtpConnection, Transport
from rundbrief.newsroom.models import SiteProfile


def _absolute(url):
    return settings.SITE_URL + url if url.startswith("/") else url


def site_links():
    profile = SiteProfile.load()
    return {
        "site_name": profile.site_name,
        "privacy_url": _absolute(profile.privacy_url) if profile.privacy_url else "",
        "imprint_url": _absolute(profile.imprint_url) if profile.imprint_url else "",
        "site_url": settings.SITE_URL,
    }


def service_message(
    to, template, subject, context, language, *, message_id, connection=None, links=None, html_context=None
):
    """audience/email/<template>.txt and .html rendered in `language` as one multipart message.

    `html_context` overrides values for the HTML part only; `links`: site_links(), if already read."""
    with translation.override(language):
        context = {**(links or site_links()), **context}
        text = render_to_string(f"audience/email/{template}.txt", context)
        html = render_to_string(f"audience/email/{template}.html", {**context, **(html_context or {})})
        message = EmailMultiAlternatives(
            subject=str(subject),
            body=text,
            to=[to],
            headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
            connection=connection,
        )
    message.attach_alternative(html, "text/html")
    return message


def send_service_mail(to, template, subject, context, language, connection=None) -> str:
    """Render audience/email/<template>.txt and .html in `language`, send over SMTP, return the Message-ID.

    `connection`: an SMTP connection of the caller's, left open for its next mail; by default
    the mail thread's batch connection, or one of its own."""
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    message_id = make_msgid(domain=domain)
    smtp = connection or outbox.smtp_connection()  # a batch shares one connection; None: one per mail
    message = service_message(to, template, subject, context, language, message_id=message_id, connection=smtp)
    try:
        if smtp is not None:
            smtp.open()  # opened by us, so sending leaves it open; the outbox closes it after the batch
        message.send()
    except Exception:
        if smtp is not None:
            _close_quietly(smtp)  # the batch's next mail starts on a fresh connection
        raise
    return message_id


def _close_quietly(smtp):
    try:
        smtp.close()  # drops the connection even when QUIT fails
    except Exception:
        pass


def confirm_url(subscriber, nonce, language):
    with translation.override(language):
        path = reverse("audience:confirm", args=[tokens.make_token(tokens.CONFIRM, subscriber.public_id, nonce)])
    return settings.SITE_URL + path


def export_url(subscriber, language):
    with translation.override(language):
        path = reverse("audience:export-download", args=[tokens.make_token(tokens.EXPORT, subscriber.public_id)])
    return settings.SITE_URL + path


def _confirmation(language, topic_names):
    """(subject, template context but the link) of a confirmation request."""
    from django.utils.translation import gettext as _

    with translation.override(language):
        subject = _("Please confirm your newsletter subscription")
    return subject, {"topic_names": list(topic_names), "days": settings.RUNDBRIEF_UNCONFIRMED_DAYS}


def send_confirmation_request(subscriber, nonce, topic_names, connection=None) -> str:
    subject, context = _confirmation(subscriber.language, topic_names)
    context["confirm_url"] = confirm_url(subscriber, nonce, subscriber.language)
    return send_service_mail(subscriber.email, "confirm", subject, context, subscriber.language, connection)


class ConfirmationMails:
    """The confirmation requests of one batch (rundbrief/audience/intake.py), built by substitution.

    Every request mail of a language and a choice of topics differs from the others
    only in its recipient, Message-ID and link. So the mail is rendered and encoded
    once per such group through the same path as send_confirmation_request
    (templates, EmailMultiAlternatives), with placeholders for those three, and
    each recipient's copy is that message's bytes with the placeholders replaced.
    Django's encoder and the email package's header folding cost more than the
    SMTP conversation (docs/benchmarks.md, sign-up). A recipient the substitution
    cannot serve exactly — an address outside ASCII, which the encoder would
    rewrite, or a body the encoder folded through a placeholder — gets the mail
    from send_confirmation_request itself.
    """

    TO = "rb-recipient@placeholder.invalid"
    MESSAGE_ID = "<rb-message-id@placeholder.invalid>"
    URL_TEXT = "https://placeholder.invalid/rb-confirm-text"
    URL_HTML = "https://placeholder.invalid/rb-confirm-html"
    TOKEN = "rb-token-placeholder"  # the shape the URL's token converter accepts

    REFRESH_SECONDS = 60  # compiled mails follow edits of the site profile within a minute

    def __init__(self):
        self.made_at = time.monotonic()
        self.settings = self._settings()
        self.django = get_connection()  # for what the substitution cannot serve
        # The delivery engine's SMTP client (pipelined, RFC 2920), when mail goes out over SMTP at
        # all: another EMAIL_BACKEND (the console's, the test suite's) gets every mail through Django.
        self.direct = None
        if settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend":
            self.direct = SmtpConnection(
                Transport(
                    name="service-mail",
                    host=settings.EMAIL_HOST,
                    port=settings.EMAIL_PORT,
                    user=settings.EMAIL_HOST_USER,
                    password=settings.EMAIL_HOST_PASSWORD,
                    use_ssl=settings.EMAIL_USE_SSL,
                    use_tls=settings.EMAIL_USE_TLS,
                )
            )
        self.compiled = {}
        self.url_templates = {}
        self.links = None  # the site profile, read once when the first mail is compiled
        self.domain = urlsplit(settings.SITE_URL).hostname or "localhost"

    def send(self, subscriber, nonce, topic_names) -> str:
        """Send one request mail; returns its Message-ID, raises if the server did not take it."""
        language = subscriber.language
        template = self._compiled(language, tuple(topic_names)) if self.direct else None
        if template is None or not subscriber.email.isascii():
            return send_confirmation_request(subscriber, nonce, topic_names, connection=self.django)
        envelope_from, data = template
        message_id = make_msgid(domain=self.domain)
        url = self._confirm_url(subscriber, nonce, language)
        data = (
            data.replace(self.TO.encode(), subscriber.email.encode("ascii"))
            .replace(self.MESSAGE_ID.encode(), message_id.encode("ascii"))
            .replace(self.URL_TEXT.encode(), url.encode("ascii"))
            .replace(self.URL_HTML.encode(), html.escape(url).encode("ascii"))
        )
        reply = self.direct.send(envelope_from, subscriber.email, data)
        if reply.kind != "sent":
            raise SMTPException(f"confirmation request to subscriber {subscriber.pk} not accepted: {reply}")
        return message_id

    def _confirm_url(self, subscriber, nonce, language):
        """confirm_url(), with the URL resolved once per language: only the token differs."""
        template = self.url_templates.get(language)
        if template is None:
            with translation.override(language):
                path = reverse("audience:confirm", args=[self.TOKEN])
            template = self.url_templates[language] = settings.SITE_URL + path
        return template.replace(self.TOKEN, tokens.make_token(tokens.CONFIRM, subscriber.public_id, nonce))

    @staticmethod
    def _settings():
        return (
            settings.EMAIL_BACKEND,
            settings.EMAIL_HOST,
            settings.EMAIL_PORT,
            settings.EMAIL_HOST_USER,
            settings.EMAIL_USE_SSL,
            settings.EMAIL_USE_TLS,
            settings.SITE_URL,
        )

    def stale(self):
        """True once it should be made anew: older than REFRESH_SECONDS (the site profile may have
        changed), or the mail settings differ from those it was made with (tests change them)."""
        return time.monotonic() - self.made_at > self.REFRESH_SECONDS or self.settings != self._settings()

    def close(self):
        for smtp in (self.direct, self.django):
            if smtp is not None:
                _close_quietly(smtp)

    def _compiled(self, language, topic_names):
        key = (language, topic_names)
        if key not in self.compiled:
            self.compiled[key] = self._compile(language, topic_names)
        return self.compiled[key]

    def _compile(self, language, topic_names):
        if self.links is None:
            self.links = site_links()
        subject, context = _confirmation(language, topic_names)
        # The same message send_confirmation_request sends, with placeholders where copies differ.
        message = service_message(
            self.TO,
            "confirm",
            subject,
            {**context, "confirm_url": self.URL_TEXT},
            language,
            message_id=self.MESSAGE_ID,
            links=self.links,
            html_context={"confirm_url": self.URL_HTML},
        )
        text, body = message.body, message.alternatives[0][0]
        data = message.message().as_bytes(linesep="\r\n")
        placeholders = {
            self.TO: 1,
            self.MESSAGE_ID: 1,
            self.URL_TEXT: text.count(self.URL_TEXT),
            self.URL_HTML: body.count(self.URL_HTML),
        }
        if any(data.count(p.encode()) != n for p, n in placeholders.items()):
            return None  # encoded out of reach of a plain replacement: every mail the slow way
        return parseaddr(message.from_email)[1], data


def send_export_link(subscriber) -> str:
    from django.utils.translation import gettext as _

    with translation.override(subscriber.language):
        subject = _("Your data export")
    context = {"export_url": export_url(subscriber, subscriber.language), "hours": settings.RUNDBRIEF_EXPORT_LINK_HOURS}
    return send_service_mail(subscriber.email, "export", subject, context, subscriber.language)
