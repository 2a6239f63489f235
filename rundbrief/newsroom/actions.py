"""State changes of the newsroom. Views, commands and the admin call these."""

from django.db import transaction

from rundbrief.newsroom.importer import ArticleFile
from rundbrief.newsroom.models import Article, Topic
from rundbrief.newsroom.slugs import slugify_de

# The parts of the demo that belong to apps above the newsroom (campaigns: the welcome mail texts),
# registered from their AppConfig.ready(); `load-demo` runs them after its own, in its transaction.
_demo_contents = []


def register_demo_content(fn):
    """Have `load-demo` call `fn()` too; it returns a short line on what it added ("" for nothing)."""
    if fn not in _demo_contents:
        _demo_contents.append(fn)


def load_demo_contents() -> list[str]:
    """Run the registered demo parts; their lines, for `load-demo` to print."""
    return [line for line in (fn() for fn in _demo_contents) if line]


def ensure_topic(name: str) -> Topic:
    """The topic with this name (or slug), created when it does not exist yet."""
    slug = slugify_de(name)[:100]
    topic = Topic.objects.filter(slug=slug).first() or Topic.objects.filter(name__iexact=name).first()
    if topic is None:
        position = Topic.objects.count()
        topic = Topic.objects.create(name=name, slug=slug, menu_position=position)
    return topic


@transaction.atomic
def import_article(data: ArticleFile) -> tuple[Article, bool]:
    """Create the article, or update the one with the same slug. Returns (article, created)."""
    article = Article.objects.select_for_update().filter(slug=data.slug).first()
    created = article is None
    if created:
        article = Article(slug=data.slug)
    article.title = data.title
    article.lead = data.lead
    article.body = data.body
    article.author_name = data.author
    article.status = data.status
    article.published_at = data.published_at
    article.save()
    article.topics.set([ensure_topic(name) for name in data.topics])
    return article, created


def save_article(article: Article) -> Article:
    """Save an editor's changes; the Markdown is rendered and sanitised on save (Article.save)."""
    article.save()
    return article


@transaction.atomic
def set_article_status(articles, status) -> int:
    """Publish or return to draft; returns how many articles changed. `articles`: instances or a queryset."""
    changed = 0
    for article in articles:
        if article.status != status:
            changed += 1
        article.status = status
        article.save(update_fields=["status", "updated_at", "body_html"])
    return changed


def publish_articles(articles) -> int:
    return set_article_status(articles, Article.Status.PUBLISHED)


def unpublish_articles(articles) -> int:
    return set_article_status(articles, Article.Status.DRAFT)
