from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction

from rundbrief.newsroom.actions import ensure_topic, import_article, load_demo_contents
from rundbrief.newsroom.importer import read_article_file
from rundbrief.newsroom.models import Article, Page, SiteProfile

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
PAGES_DIR = DEMO_DIR / "pages"  # imprint and privacy notice; the profile's legal links point at them
ENGLISH_PAGES_DIR = PAGES_DIR / "en"  # their English texts, same file names

# (German name, German description, English name, English description)
DEMO_TOPICS = [
    (
        "Produktneuheiten",
        "Neue Münzen, Barren und Editionen im Sortiment.",
        "Product news",
        "New coins, bars and editions in our range.",
    ),
    (
        "Finanznachrichten",
        "Edelmetallpreise, Zinsen und Märkte – eingeordnet von unserer Redaktion.",
        "Financial news",
        "Precious metal prices, interest rates and markets, explained by our editors.",
    ),
    (
        "Sonderangebote",
        "Zeitlich begrenzte Aktionen für Anlegerinnen und Anleger.",
        "Special offers",
        "Offers for investors, for a limited time.",
    ),
]

DEMO_PROFILE = {
    "site_name": "Musterhaus Edelmetalle",
    "tagline": "Marktberichte und Neuigkeiten rund um Gold und Silber",
    "hotline_label": "Kostenlose Beratung",
    "hotline_number": "0800 123 45 67",
    "trust_badges": "150.000 Kunden\nSicherer Versand\nSeit 1998 am Markt",
    "imprint_url": "/impressum/",
    "privacy_url": "/datenschutz/",
    "logo_url": "/static/rundbrief/demo/musterhaus-logo.png",  # drawn for the demo; its source is the .svg beside it
    "footer_text": "Musterhaus Edelmetalle GmbH · Musterstraße 1 · 12345 Musterstadt\n"
    "Ein fiktives Unternehmen für die Demo von Rundbrief.",
}

# Each English field beside the German one it translates (rundbrief/newsroom/languages.py).
DEMO_PROFILE_EN = {
    "tagline_en": "Market reports and news on gold and silver",
    "hotline_label_en": "Free consultation",
    "trust_badges_en": "150,000 customers\nSecure shipping\nIn business since 1998",
    "footer_text_en": "Musterhaus Edelmetalle GmbH · Musterstraße 1 · 12345 Musterstadt, Germany\n"
    "A fictitious company for the Rundbrief demo.",
}


class Command(BaseCommand):
    help = (
        "Load the demo site (Musterhaus Edelmetalle): profile, three topics, articles, legal pages, "
        "welcome mails in German and English. Safe to run again."
    )

    @transaction.atomic
    def handle(self, *args, **options):
        profile = SiteProfile.load()
        if not profile.hotline_number:  # never overwrite what an editor changed
            for key, value in DEMO_PROFILE.items():
                setattr(profile, key, value)
            profile.save()
        # An English text only where the German one is still the demo's and no English one is set:
        # a site that loaded the demo before the English fields existed gets them too.
        english = {
            key: value
            for key, value in DEMO_PROFILE_EN.items()
            if not getattr(profile, key)
            and getattr(profile, key.removesuffix("_en")) == DEMO_PROFILE[key.removesuffix("_en")]
        }
        if english:
            for key, value in english.items():
                setattr(profile, key, value)
            profile.save()
        for position, (name, description, name_en, description_en) in enumerate(DEMO_TOPICS):
            topic = ensure_topic(name)
            if not topic.description:
                topic.description = description
                topic.menu_position = position
                topic.save()
            if not topic.name_en and topic.name == name:
                topic.name_en, topic.description_en = name_en, description_en
                topic.save()
        created = 0
        for path in sorted(DEMO_DIR.glob("*.md")):
            data = read_article_file(path)
            if Article.objects.filter(slug=data.slug).exists():
                continue
            import_article(data)
            created += 1
        pages = 0
        for path in sorted(PAGES_DIR.glob("*.md")):
            heading, _, body = path.read_text(encoding="utf-8").partition("\n")
            page, made = Page.objects.get_or_create(  # an existing page is the editor's: left alone
                slug=path.stem, defaults={"title": heading.removeprefix("# ").strip(), "body": body.strip() + "\n"}
            )
            pages += made
            english = ENGLISH_PAGES_DIR / path.name
            if english.exists() and not page.body_en and (made or page.body == body.strip() + "\n"):
                heading_en, _, body_en = english.read_text(encoding="utf-8").partition("\n")
                page.title_en, page.body_en = heading_en.removeprefix("# ").strip(), body_en.strip() + "\n"
                page.save()
        self.stdout.write(f"demo content: {created} article(s), {pages} page(s) added")
        for line in load_demo_contents():  # the other apps' parts: the welcome mail texts
            self.stdout.write(line)
