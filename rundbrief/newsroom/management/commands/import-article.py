from django.core.management.base import BaseCommand, CommandError

from rundbrief.newsroom.actions import import_article
from rundbrief.newsroom.importer import ArticleFileError, read_article_file


class Command(BaseCommand):
    help = (
        "Import articles from Markdown files with YAML front matter (title, slug, published_at, "
        "topics, lead, author, status). Re-importing a slug updates that article; unknown topics "
        "are created. A bad file is reported in one line and nothing of it is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE.md")

    def handle(self, *args, files, **options):
        failed = 0
        for path in files:
            try:
                data = read_article_file(path)
                article, created = import_article(data)
            except ArticleFileError as exc:
                self.stderr.write(f"error: {exc}")
                failed += 1
                continue
            verb = "created" if created else "updated"
            self.stdout.write(f"{verb}: {article.slug} ({path})")
        if failed:
            raise CommandError(f"{failed} of {len(files)} file(s) not imported", returncode=1)
