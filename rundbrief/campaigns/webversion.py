"""The web version of a campaign: its public address, and the mail's HTML made fit for a page.

Every copy of a campaign links to one address per campaign (`web_version_url`), so the address
names the campaign, never a recipient. The mail's per-recipient links are placeholders until the
delivery engine fills them in; on the web version they become neutral links to the sign-up page
(`page_html`), so a forwarded link unsubscribes nobody and changes nobody's topics.
"""

import re

from django.conf import settings
from django.urls import reverse

from rundbrief.outbound.message import PREFERENCES_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER

# The newsletter layout is a whole document; the page keeps what is inside <body>. The styles that
# matter are inlined (css_inline), the narrow-screen rule is repeated in the site's stylesheet.
BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)


def web_version_url(campaign) -> str:
    """The absolute address of the campaign's web version, in the active language (SITE_URL, never Host)."""
    return settings.SITE_URL + reverse("campaigns:web-version", args=[campaign.web_token])


def neutral_link() -> str:
    """Where the web version's "unsubscribe" and "change topics" lead: the sign-up page, which names nobody."""
    return settings.SITE_URL + reverse("audience:signup")


def page_html(mail_html: str) -> str:
    """The mail's body for the web page, its per-recipient placeholders replaced by the neutral link."""
    match = BODY.search(mail_html)
    body = match.group(1) if match else mail_html
    link = neutral_link()
    return body.replace(UNSUBSCRIBE_PLACEHOLDER, link).replace(PREFERENCES_PLACEHOLDER, link)
