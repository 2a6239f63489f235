"""Reading articles from Markdown files with YAML front matter.

    ---
    title: Goldpreis auf Rekordhoch
    slug: goldpreis-rekordhoch            # optional, derived from the title
    published_at: 2025-04-07T13:45:00+02:00
    topics: [Finanznachrichten]
    lead: Ein Satz zum Einstieg.
    author: Redaktion
    status: published                     # optional: published (default) or draft
    ---
    Body in Markdown …

Every problem is an ArticleFileError whose message names the file and says
what is wrong in one line.
"""

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from rundbrief.newsroom.models import TITLE_MAX_LENGTH, Article
from rundbrief.newsroom.slugs import slugify_de

MAX_FILE_BYTES = 2 * 1024 * 1024
KNOWN_KEYS = {"title", "slug", "published_at", "topics", "lead", "author", "status"}


class ArticleFileError(ValueError):
    pass


@dataclass
class ArticleFile:
    path: Path
    title: str
    slug: str
    body: str
    published_at: dt.datetime
    lead: str = ""
    author: str = ""
    status: str = Article.Status.PUBLISHED
    topics: list[str] = field(default_factory=list)


def read_article_file(path) -> ArticleFile:
    path = Path(path)
    name = path.name

    def fail(problem):
        raise ArticleFileError(f"{name}: {problem}")

    try:
        raw = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read the file ({exc.strerror or exc})")
    if len(raw) > MAX_FILE_BYTES:
        fail(f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(f"not UTF-8 (invalid byte at offset {exc.start})")
    if "\x00" in text:
        fail("contains NUL bytes (a binary file?)")
    text = text.replace("\r\n", "\n")
    meta, body = _split_front_matter(text, fail)

    unknown = sorted(set(meta) - KNOWN_KEYS)
    if unknown:
        fail(f"unknown front-matter key(s): {', '.join(map(str, unknown))}")
    title = _text(meta, "title", fail, required=True)
    if len(title) > TITLE_MAX_LENGTH:
        fail(f"title is {len(title)} characters long; at most {TITLE_MAX_LENGTH} are allowed")
    slug = _text(meta, "slug", fail) or slugify_de(title)
    if not slug or slug != slugify_de(slug):
        fail(f"slug {slug!r} is not valid: use lower-case letters, digits and hyphens")
    slug = slug[:TITLE_MAX_LENGTH].strip("-")
    status = _text(meta, "status", fail) or Article.Status.PUBLISHED
    if status not in Article.Status.values:
        fail(f"status {status!r} is not one of: {', '.join(Article.Status.values)}")
    return ArticleFile(
        path=path,
        title=title,
        slug=slug,
        body=body.strip() + "\n",
        published_at=_published_at(meta, fail),
        lead=_text(meta, "lead", fail),
        author=_text(meta, "author", fail)[:100],
        status=status,
        topics=_topics(meta, fail),
    )


def _split_front_matter(text, fail):
    if not text.startswith("---\n"):
        fail("no front matter: the file must start with a line '---', then YAML, then '---'")
    end = text.find("\n---", 3)
    if end == -1:
        fail("front matter is not closed by a line '---'")
    after = text[end + 4 :]
    if after and not after.startswith("\n"):
        fail("front matter is not closed by a line '---'")
    try:
        # BaseLoader: every scalar stays a string, so dates are parsed by us, strictly.
        meta = yaml.load(text[4:end], Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark else ""
        fail(f"front matter is not valid YAML{where}")
    if not isinstance(meta, dict):
        fail("front matter must be a mapping of keys to values")
    return meta, after


def _text(meta, key, fail, required=False):
    value = meta.get(key, "")
    if not isinstance(value, str):
        fail(f"'{key}' must be text")
    value = value.strip()
    if required and not value:
        fail(f"'{key}' is missing")
    return value


def _published_at(meta, fail):
    raw = _text(meta, "published_at", fail)
    if not raw:
        return timezone.now()
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        try:
            value = dt.datetime.combine(dt.date.fromisoformat(raw), dt.time(0, 0))
        except ValueError:
            fail(f"published_at {raw!r} is not a date and time like 2025-04-07T13:45:00+02:00")
    if timezone.is_naive(value):
        # A time without offset is read in the site's time zone (TIME_ZONE).
        value = timezone.make_aware(value)
    return value


def _topics(meta, fail):
    raw = meta.get("topics", [])
    if isinstance(raw, str):
        raw = [part for part in raw.split(",")]
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        fail("'topics' must be a list of topic names")
    names = []
    for item in raw:
        item = item.strip()
        if not item:
            continue
        if len(item) > 100:
            fail(f"topic name {item[:20]!r}… is longer than 100 characters")
        if not slugify_de(item):
            fail(f"topic name {item!r} has no letters or digits")
        if item not in names:
            names.append(item)
    return names
