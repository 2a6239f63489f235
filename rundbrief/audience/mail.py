"""Service mail of the audience: the double-opt-in request and the data-export link.

Neutral (UWG §7(2) Nr. 2: a confirmation request that advertises is itself
advertising sent without consent): no product content, no tracking pixel,
nothing the requester typed. Each message gets a Message-ID we
generate, so the ledger can name the exact mail that asked for confirmation.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from rundbrief.audience import outbox, tokens
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


def send_service_mail(to, template, subject, context, language) -> str:
    """Render audience/email/<template>.txt and .html in `language`, send over SMTP, return the Message-ID."""
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    message_id = make_msgid(domain=domain)
    smtp = outbox.smtp_connection()  # the mail thread's batch shares one connection; None: one per mail
    with translation.override(language):
        context = {**site_links(), **context}
        text = render_to_string(f"audience/email/{template}.txt", context)
        html = render_to_string(f"audience/email/{template}.html", context)
        message = EmailMultiAlternatives(
            subject=str(subject), body=text, to=[to], headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
            connection=smtp,
        )
    message.attach_alternative(html, "text/html")
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


def send_confirmation_request(subscriber, nonce, topic_names) -> str:
    from django.utils.translation import gettext as _

    with translation.override(subscriber.language):
        subject = _("Please confirm your newsletter subscription")
    context = {
        "confirm_url": confirm_url(subscriber, nonce, subscriber.language),
        "topic_names": topic_names,
        "days": settings.RUNDBRIEF_UNCONFIRMED_DAYS,
    }
    return send_service_mail(subscriber.email, "confirm", subject, context, subscriber.language)


def send_export_link(subscriber) -> str:
    from django.utils.translation import gettext as _

    with translation.override(subscriber.language):
        subject = _("Your data export")
    context = {"export_url": export_url(subscriber, subscriber.language), "hours": settings.RUNDBRIEF_EXPORT_LINK_HOURS}
    return send_service_mail(subscriber.email, "export", subject, context, subscriber.language)
