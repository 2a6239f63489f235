"""A campaign's content → subject, HTML and text, rendered once per campaign.

`render_campaign()` builds what every recipient gets; what differs per recipient
(the unsubscribe and preferences links) stays as the literal placeholders
`%%RB:unsubscribe_url%%` and `%%RB:preferences_url%%` (rundbrief/outbound/message.py),
which the delivery engine substitutes when it builds each message (one render per campaign,
a substitution per recipient: docs/delivery.md, "The message"). `start_campaign()` freezes the result when sending starts.

Both parts come from one source (RFC 2046 §5.1.4: alternatives carry the same
content): the Markdown text, the sanitised HTML, or the digest's article list.
No tracking pixel and no redirect links: every link points at its real target
(§25 TDDDG: tracking needs its own consent, which we do not ask for).
"""

import datetime as dt
import re
from dataclasses import dataclass, field

import css_inline
import nh3
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rundbrief.audience.links import recipient_links
from rundbrief.campaigns.models import Campaign, WelcomeMail
from rundbrief.campaigns.plaintext import html_to_text
from rundbrief.campaigns.webversion import web_version_url
from rundbrief.newsroom.markdown import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, URL_SCHEMES, render_markdown
from rundbrief.newsroom.models import Article, SiteProfile
from rundbrief.outbound.message import (
    PREFERENCES_PLACEHOLDER,
    PREFERENCES_URL,
    UNSUBSCRIBE_PLACEHOLDER,
    UNSUBSCRIBE_URL,
)

# Gmail clips a message body above about 102 KB and hides the rest, the
# footer with the unsubscribe link included; warn with a little room to spare.
HTML_SIZE_WARNING_BYTES = 100 * 1024
DIGEST_DEFAULT_DAYS = 7
# A test send's subject starts with this, in every language: the team filters on it.
TEST_SUBJECT_PREFIX = "[Test] "
BODY_OPEN = re.compile(r"<body[^>]*>", re.IGNORECASE)
# "[text](/path" in Markdown: a link target a mail client could not resolve.
MARKDOWN_RELATIVE_TARGET = re.compile(r"\]\((/(?!/)[^)\s]*)")

# Newsletter HTML is laid out with tables and inline styles, so on top of the
# article allow-list it may keep layout tags and a vetted set of CSS properties.
# No background images: a url() in CSS is a way to smuggle in a tracking pixel.
NEWSLETTER_TAGS = ALLOWED_TAGS | {
    "h1",
    "div",
    "span",
    "center",
    "u",
    "s",
    "small",
    "caption",
    "tfoot",
    "col",
    "colgroup",
}
NEWSLETTER_ATTRIBUTES = {
    **ALLOWED_ATTRIBUTES,
    "*": {"style", "align", "title"},
    "table": {"width", "cellpadding", "cellspacing", "border", "role", "bgcolor"},
    "td": {"width", "valign", "colspan", "rowspan", "bgcolor"},
    "th": {"width", "valign", "colspan", "rowspan", "bgcolor"},
    "col": {"width", "span"},
    "img": ALLOWED_ATTRIBUTES["img"],
}
NEWSLETTER_STYLE_PROPERTIES = {
    "color",
    "background-color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "line-height",
    "letter-spacing",
    "text-align",
    "text-decoration",
    "text-transform",
    "vertical-align",
    "width",
    "max-width",
    "min-width",
    "height",
    "display",
    "margin",
    "margin-top",
    "margin-right",
    "margin-bottom",
    "margin-left",
    "padding",
    "padding-top",
    "padding-right",
    "padding-bottom",
    "padding-left",
    "border",
    "border-top",
    "border-right",
    "border-bottom",
    "border-left",
    "border-collapse",
    "border-radius",
    "border-color",
    "border-style",
    "border-width",
    "white-space",
}


@dataclass
class Rendered:
    subject: str
    html: str
    text: str
    # Lazy translations: shown later in the reader's language (admin, CLI), not in the mail's.
    warnings: list = field(default_factory=list)

    @property
    def empty(self):
        """A digest without a single new article: nothing worth a mail (start_campaign skips it)."""
        return NO_NEW_ARTICLES in self.warnings


NO_NEW_ARTICLES = _("no new articles so far: a digest still empty when sending starts is not sent")


def with_example_links(rendered: Rendered) -> Rendered:
    """`rendered` with the per-recipient placeholders replaced by links of the real shape, for the
    editors' preview: "%%RB:unsubscribe_url%%" in a footer reads as a fault. The tokens name no
    subscriber (as in a test send), so the links open the "unknown link" page."""
    unsubscribe_url, preferences_url = recipient_links("preview")
    links = {UNSUBSCRIBE_PLACEHOLDER: unsubscribe_url, PREFERENCES_PLACEHOLDER: preferences_url}

    def fill(text):
        for placeholder, link in links.items():
            text = text.replace(placeholder, link)
        return text

    return Rendered(rendered.subject, fill(rendered.html), fill(rendered.text), rendered.warnings)


def as_test_send(rendered: Rendered, *, language: str | None = None) -> Rendered:
    """`rendered` marked as a test: "[Test] " before the subject and a banner above everything else,
    so nobody mistakes it for the real newsletter. Works on frozen content too: the banner goes in
    after the <body> tag, the content itself is not rendered again."""
    with translation.override(language or settings.LANGUAGE_CODE):
        banner_html = render_to_string("campaigns/email/_test_banner.html").strip()
        banner_text = gettext("Test send – this e-mail went only to the editorial team.")
    html, found = BODY_OPEN.subn(lambda m: m.group(0) + "\n" + banner_html, rendered.html, count=1)
    if not found:
        html = banner_html + "\n" + rendered.html
    text = f"*** {banner_text} ***\n\n{rendered.text}"
    return Rendered(TEST_SUBJECT_PREFIX + rendered.subject, html, text, rendered.warnings)


def render_campaign(campaign: Campaign, *, now: dt.datetime | None = None, language: str | None = None) -> Rendered:
    """Render `campaign` in `language` (default LANGUAGE_CODE), with the per-recipient links as placeholders."""
    now = now or timezone.now()
    warnings: list[str] = []
    with translation.override(language or settings.LANGUAGE_CODE):
        content_html, content_text = _content(campaign, now, warnings)
        # In the language being rendered: the footer names the topics the reader chose, in her words.
        topic_names = [topic.localised.name for topic in campaign.topics.all()] if campaign.pk else []
        return _in_layout(
            campaign.subject,
            campaign.preheader,
            topic_names,
            content_html,
            content_text,
            warnings,
            web_url=web_version_url(campaign),
        )


def render_welcome(welcome: WelcomeMail, *, language: str, topic_names: list[str]) -> Rendered:
    """The welcome mail in the newsletter layout, the layout in `language` (the subscriber's), the
    footer naming her `topic_names`; the per-recipient links stay placeholders, as in a campaign."""
    with translation.override(language):
        content_html = sanitise_html(render_markdown(welcome.body))
        return _in_layout(welcome.subject, welcome.preheader, topic_names, content_html, markdown_text(welcome.body))


def _in_layout(subject, preheader, topic_names, content_html, content_text, warnings=None, web_url="") -> Rendered:
    """Content in the newsletter layout (in the active language), CSS inlined. `web_url`: the campaign's
    public web version, linked at the top (a welcome mail has none)."""
    warnings = [] if warnings is None else warnings
    context = _layout_context(subject, preheader, topic_names, content_html, content_text, web_url)
    html = render_to_string("campaigns/email/newsletter.html", context)
    text = render_to_string("campaigns/email/newsletter.txt", context)
    # keep_at_rules keeps the @media block for narrow screens (it cannot be
    # inlined); nothing is fetched from the network while rendering.
    try:
        html = css_inline.inline(html, keep_at_rules=True, load_remote_stylesheets=False)
    except css_inline.InlineError as exc:
        # Still sendable: clients that honour <style> render it as designed, the rest plainly.
        warnings.append(format_lazy(_("CSS could not be inlined: {error}"), error=exc))
    size = len(html.encode("utf-8"))
    if size > HTML_SIZE_WARNING_BYTES:
        warnings.append(
            format_lazy(
                _("HTML is {size} KB; Gmail clips messages above about 102 KB, footer included"), size=size // 1024
            )
        )
    return Rendered(subject=subject.strip(), html=html, text=_normalise_text(text), warnings=warnings)


def _content(campaign, now, warnings):
    """The body as (HTML fragment, plain text), both from the same source."""
    if campaign.body_format == Campaign.BodyFormat.DIGEST:
        return _digest(campaign, now, warnings)
    if campaign.body_format == Campaign.BodyFormat.HTML:
        html = sanitise_html(campaign.body)
        return html, html_to_text(html)
    return sanitise_html(render_markdown(campaign.body)), markdown_text(campaign.body)


def markdown_text(body: str) -> str:
    """The Markdown source as the text part, with site-relative link targets made absolute."""
    return MARKDOWN_RELATIVE_TARGET.sub(lambda m: f"]({settings.SITE_URL}{m.group(1)}", (body or "").strip())


def sanitise_html(html: str) -> str:
    """nh3 with the newsletter allow-list; site-relative links and images become absolute."""
    return nh3.clean(
        html or "",
        tags=NEWSLETTER_TAGS,
        clean_content_tags={"script", "style"},
        attributes=NEWSLETTER_ATTRIBUTES,
        attribute_filter=_absolute_urls,
        url_schemes=URL_SCHEMES,
        filter_style_properties=NEWSLETTER_STYLE_PROPERTIES,
        link_rel=None,
    )


def _absolute_urls(tag, attribute, value):
    # A mail client has no base URL: "/artikel/x/" would lead nowhere.
    if attribute in {"href", "src"} and value.startswith("/") and not value.startswith("//"):
        return settings.SITE_URL + value
    return value


def digest_since(campaign: Campaign, now: dt.datetime) -> tuple[dt.datetime, bool]:
    """Where the digest starts, and whether that moment itself is included.

    The editor's `digest_since`, else the start of the previous finished digest
    that shares a topic with this one (its articles went out then), else a week ago.
    """
    if campaign.digest_since:
        return campaign.digest_since, True
    previous = (
        Campaign.objects.filter(
            body_format=Campaign.BodyFormat.DIGEST,
            state=Campaign.State.FINISHED,
            started_at__isnull=False,
            started_at__lte=now,
            topics__in=campaign.topics.all(),
        )
        .exclude(pk=campaign.pk)
        .order_by("-started_at")
        .first()
    )
    if previous:
        return previous.started_at, False
    return now - dt.timedelta(days=DIGEST_DEFAULT_DAYS), True


def digest_articles(campaign: Campaign, now: dt.datetime):
    since, inclusive = digest_since(campaign, now)
    lookup = "published_at__gte" if inclusive else "published_at__gt"
    articles = Article.objects.published(now=now).filter(topics__in=campaign.topics.all(), **{lookup: since})
    if campaign.digest_until:
        # A recurring digest's issue covers its period; the next issue starts where it ends.
        articles = articles.filter(published_at__lt=campaign.digest_until)
    ids = articles.values("pk")
    # The id subquery instead of distinct(): an article in two topics appears once.
    return Article.objects.filter(pk__in=ids).order_by("-published_at", "-pk")


def _digest(campaign, now, warnings):
    articles = [
        {"title": a.title, "lead": a.lead.strip(), "url": a.absolute_url(), "published_at": a.published_at}
        for a in digest_articles(campaign, now)
    ]
    if not articles:
        warnings.append(NO_NEW_ARTICLES)
    context = {
        "articles": articles,
        "intro_html": sanitise_html(render_markdown(campaign.body)) if campaign.body.strip() else "",
        "intro_text": markdown_text(campaign.body),
    }
    html = render_to_string("campaigns/email/_digest.html", context)
    text = render_to_string("campaigns/email/_digest.txt", context)
    return html, text.strip()


def _layout_context(subject, preheader, topic_names, content_html, content_text, web_url):
    profile = SiteProfile.load()
    return {
        **profile.mail_links(),
        "footer_text": profile.footer_text.strip(),
        "subject": subject.strip(),
        "preheader": preheader.strip(),
        "topic_names": topic_names,
        "content_html": content_html,
        "content_text": content_text,
        # The same in every copy: the campaign's public web version (campaigns/webversion.py).
        "web_version_url": web_url,
        UNSUBSCRIBE_URL: UNSUBSCRIBE_PLACEHOLDER,
        PREFERENCES_URL: PREFERENCES_PLACEHOLDER,
    }


def _normalise_text(text):
    # Template tags leave blank lines behind; more than one in a row reads as a gap.
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out) + "\n"
