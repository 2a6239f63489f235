"""Topics, articles and the site's profile (header, trust badges, legal links)."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rundbrief.newsroom import brand
from rundbrief.newsroom.folding import fold_document, html_to_text
from rundbrief.newsroom.languages import TranslatedFields, localised_path
from rundbrief.newsroom.markdown import render_markdown

TITLE_MAX_LENGTH = 200


class RendersMarkdownBody:
    """For models with `body` (Markdown) and `body_html`: the sanitised HTML is rendered once on save,
    not on every page view. `markdown_fields`: each (Markdown field, HTML field) to render."""

    markdown_fields = [("body", "body_html")]

    # Fields computed from the text on every save (after body_html), written even by a partial save.
    derived_fields = ()

    def save(self, *args, **kwargs):
        for source, target in self.markdown_fields:
            setattr(self, target, render_markdown(getattr(self, source)))
        self.derive()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = [*dict.fromkeys([*kwargs["update_fields"], *self.derived_fields])]
        super().save(*args, **kwargs)

    def derive(self):
        """Set derived_fields from the text and body_html; nothing by default."""


class Topic(TranslatedFields, models.Model):
    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)  # one slug for every language
    description = models.TextField(_("description"), blank=True)
    # English beside German; German shows where one is empty (docs/decisions.md, "Site texts in English").
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    menu_position = models.PositiveSmallIntegerField(_("menu position"), default=0)

    class Meta:
        ordering = ["menu_position", "name"]
        verbose_name = _("topic")
        verbose_name_plural = _("topics")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("newsroom:topic", args=[self.slug])


class ArticleQuerySet(models.QuerySet):
    def published(self, now=None):
        """Published articles whose publication time has come (future ones stay hidden)."""
        return self.filter(status=Article.Status.PUBLISHED, published_at__lte=now or timezone.now())


class Article(RendersMarkdownBody, models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        PUBLISHED = "published", _("published")

    title = models.CharField(_("title"), max_length=TITLE_MAX_LENGTH)
    slug = models.SlugField(_("slug"), max_length=TITLE_MAX_LENGTH, unique=True)
    lead = models.TextField(_("lead"), blank=True)
    body = models.TextField(_("body (Markdown)"), blank=True)
    # The sanitised HTML, rendered once on save instead of on every page view.
    body_html = models.TextField(editable=False, blank=True)
    author_name = models.CharField(_("author"), max_length=100, blank=True)
    topics = models.ManyToManyField(Topic, related_name="articles", blank=True, verbose_name=_("topics"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(_("published at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # The folded copy the search reads (newsroom/folding.py), written on save like body_html; SQLite's
    # full-text table and PostgreSQL's GIN index are built from these (migration 0004).
    folded_title = models.TextField(editable=False, blank=True, default="")
    folded_lead = models.TextField(editable=False, blank=True, default="")
    folded_body = models.TextField(editable=False, blank=True, default="")

    objects = ArticleQuerySet.as_manager()

    class Meta:
        ordering = ["-published_at", "-pk"]
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        indexes = [models.Index(fields=["status", "published_at"])]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("newsroom:article", args=[self.slug])

    derived_fields = ("folded_title", "folded_lead", "folded_body")

    def derive(self):
        self.folded_title = fold_document(self.title)
        self.folded_lead = fold_document(self.lead)
        self.folded_body = fold_document(html_to_text(self.body_html))

    def absolute_url(self):
        return settings.SITE_URL + self.get_absolute_url()

    @property
    def is_visible(self):
        return self.status == self.Status.PUBLISHED and self.published_at <= timezone.now()

    def related(self, limit=5):
        """Further reading: published articles ranked by shared topics, then recency; never itself."""
        return (
            Article.objects.published()
            .filter(topics__in=self.topics.all())
            .exclude(pk=self.pk)
            .annotate(shared_topics=models.Count("topics"))
            .order_by("-shared_topics", "-published_at", "-pk")[:limit]
        )


class Page(TranslatedFields, RendersMarkdownBody, models.Model):
    """A standing page such as the imprint or the privacy notice, at /<slug>/ (Markdown, like articles).

    The site profile's imprint and privacy links usually point here; German law expects both to be
    reachable from every page (§ 5 DDG, GDPR Art. 13).
    """

    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(
        _("slug"),
        max_length=100,
        unique=True,
        help_text=_("The page's address: /slug/. Addresses the site already uses win."),
    )
    body = models.TextField(_("text"), help_text=_("Markdown, as in articles."))
    body_html = models.TextField(editable=False, blank=True)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    body_en = models.TextField(
        _("text (English)"), blank=True, help_text=_("Markdown. Empty: English readers see the German text.")
    )
    body_html_en = models.TextField(editable=False, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    markdown_fields = [("body", "body_html"), ("body_en", "body_html_en")]

    class Meta:
        verbose_name = _("page")
        verbose_name_plural = _("pages")
        ordering = ["title"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("newsroom:page", args=[self.slug])


class SiteProfile(TranslatedFields, models.Model):
    """The one site's header, trust badges and legal links. There is exactly one row (pk=1)."""

    site_name = models.CharField(_("site name"), max_length=100, default="Musterhaus Edelmetalle")
    tagline = models.CharField(_("tagline"), max_length=200, blank=True)
    hotline_label = models.CharField(_("hotline label"), max_length=60, default="Kostenlose Beratung")
    hotline_number = models.CharField(_("hotline number"), max_length=40, blank=True)
    trust_badges = models.TextField(
        _("trust badges"), blank=True, help_text=_("One badge per line, e.g. “150.000 Kunden”.")
    )
    imprint_url = models.CharField(_("imprint URL"), max_length=300, blank=True, validators=[brand.validate_link])
    privacy_url = models.CharField(
        _("privacy notice URL"), max_length=300, blank=True, validators=[brand.validate_link]
    )
    footer_text = models.TextField(_("footer text"), blank=True)
    # A path or an https address rather than an upload: the site serves no uploaded media, and a
    # mail needs an address that stays reachable (docs/decisions.md, "The logo is an address").
    logo_url = models.CharField(
        _("logo"),
        max_length=300,
        blank=True,
        validators=[brand.validate_logo_url],
        help_text=_(
            "A path on this site (/static/…) or an https:// address of a PNG or JPEG image, about 96 px high. "
            "Mail programs show no SVG."
        ),
    )
    logo_shows_name = models.BooleanField(
        _("the logo contains the site name"),
        default=False,
        help_text=_("Then the name is not written again beside the logo (it stays the image's text alternative)."),
    )
    brand_primary = models.CharField(
        _("primary colour"),
        max_length=7,
        default=brand.DEFAULT_PRIMARY,
        validators=[brand.validate_primary],
        help_text=_("Links and buttons, e.g. #7a5c12; dark enough for white text on it."),
    )
    brand_accent = models.CharField(
        _("accent colour"),
        max_length=7,
        default=brand.DEFAULT_ACCENT,
        validators=[brand.validate_accent],
        help_text=_("The rule under the header and the newsletter box's border, e.g. #b8860b."),
    )
    # Off by default: the consent covers all topics named in the text; readers choose later
    # (docs/decisions.md, "A sign-up covers every topic unless the reader chooses").
    signup_topic_choice = models.BooleanField(
        _("topic checkboxes in the sign-up box"),
        default=False,
        help_text=_("Show unticked topic checkboxes beside the newsletter sign-up form."),
    )
    # English beside German; German shows where one is empty (docs/decisions.md, "Site texts in English").
    tagline_en = models.CharField(_("tagline (English)"), max_length=200, blank=True)
    hotline_label_en = models.CharField(_("hotline label (English)"), max_length=60, blank=True)
    trust_badges_en = models.TextField(_("trust badges (English)"), blank=True, help_text=_("One badge per line."))
    footer_text_en = models.TextField(_("footer text (English)"), blank=True)

    class Meta:
        verbose_name = _("site profile")
        verbose_name_plural = _("site profile")

    def __str__(self):
        return self.site_name

    def save(self, *args, **kwargs):
        self.pk = 1
        self.brand_primary = brand.normalise_hex(self.brand_primary)
        self.brand_accent = brand.normalise_hex(self.brand_accent)
        super().save(*args, **kwargs)

    @classmethod
    def load(cls):
        profile, _created = cls.objects.get_or_create(pk=1)
        return profile

    def mail_links(self, language=None):
        """The site's name and absolute links as every mail's footer names them (campaigns and service mail):
        mail is read away from the site, so a link the editor entered as a path gets SITE_URL, and the
        prefix of `language` (default: the active one), so an English reader's privacy link is English."""

        def absolute(url):
            url = localised_path(brand.safe_link(url), language)
            return settings.SITE_URL + url if url.startswith("/") else url

        return {
            "site_name": self.site_name,
            "site_url": settings.SITE_URL,
            "imprint_url": absolute(self.imprint_url) if brand.safe_link(self.imprint_url) else "",
            "privacy_url": absolute(self.privacy_url) if brand.safe_link(self.privacy_url) else "",
            **self.brand(absolute),
        }

    def brand(self, absolute=str):
        """Logo and colours for the site's header and every mail's (rundbrief/templates/email/_brand_header.html);
        `absolute` turns a path into the address a mail needs."""
        return {
            "logo_url": absolute(self.logo_url) if self.logo_url else "",
            "logo_shows_name": self.logo_shows_name,
            "brand_primary": brand.colour_or(self.brand_primary, brand.DEFAULT_PRIMARY),
            "brand_accent": brand.colour_or(self.brand_accent, brand.DEFAULT_ACCENT),
        }

    @property
    def badges(self):
        """The trust badges in the active language (German when no English ones are set)."""
        return [line.strip() for line in self.localised.trust_badges.splitlines() if line.strip()][:6]

    @property
    def imprint_path(self):
        """The imprint link under the active language's prefix (/en/impressum/ for English readers)."""
        return localised_path(brand.safe_link(self.imprint_url))

    @property
    def privacy_path(self):
        return localised_path(brand.safe_link(self.privacy_url))

    @property
    def hotline_tel(self):
        """The number as a tel: URI target (RFC 3966): digits and a leading +."""
        number = self.hotline_number.strip()
        digits = "".join(ch for ch in number if ch.isdigit())
        return ("+" if number.startswith("+") else "") + digits
