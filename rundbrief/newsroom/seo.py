"""Structured data for search engines: JSON-LD NewsArticle (schema.org)."""

import json

from django.utils.safestring import mark_safe
from django.utils.timezone import localtime

# The same escapes Django's json_script uses: "</script>" in a title must not end the element.
_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def news_article_ld(article, site_profile):
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title[:110],  # Google shows at most 110 characters of a headline.
        "description": article.lead,
        "datePublished": localtime(article.published_at).isoformat(),
        "dateModified": localtime(article.updated_at or article.published_at).isoformat(),
        "mainEntityOfPage": article.absolute_url(),
        "url": article.absolute_url(),
        "publisher": {"@type": "Organization", "name": site_profile.site_name},
        "articleSection": [topic.name for topic in article.topics.all()],
    }
    if article.author_name:
        data["author"] = {"@type": "Person", "name": article.author_name}
    payload = json.dumps(data, ensure_ascii=False).translate(_SCRIPT_ESCAPES)
    return mark_safe(f'<script type="application/ld+json">{payload}</script>')
