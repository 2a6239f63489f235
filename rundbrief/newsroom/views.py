"""Reader-facing pages: home, article, topic, search, and the editors' preview."""

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseServerError
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string

from rundbrief.newsroom.models import Article, Topic
from rundbrief.newsroom.search import Search


def _page(request, queryset):
    # get_page() turns "abc", "-1" and "99999999999" into the nearest real page.
    return Paginator(queryset, settings.ARTICLES_PER_PAGE).get_page(request.GET.get("page"))


def _listing(queryset):
    return queryset.prefetch_related("topics")


def home(request):
    page = _page(request, _listing(Article.objects.published()))
    return render(request, "newsroom/home.html", {"page": page})


def topic(request, slug):
    topic = get_object_or_404(Topic, slug=slug)
    page = _page(request, _listing(Article.objects.published().filter(topics=topic)))
    return render(request, "newsroom/topic.html", {"topic": topic, "page": page})


def article(request, slug):
    article = get_object_or_404(Article.objects.published().prefetch_related("topics"), slug=slug)
    return _render_article(request, article, preview=False)


@staff_member_required
def preview(request, pk):
    """An editor sees the article exactly as readers will, before it is published."""
    article = get_object_or_404(Article.objects.prefetch_related("topics"), pk=pk)
    return _render_article(request, article, preview=True)


def _render_article(request, article, preview):
    context = {"article": article, "related": list(article.related()), "preview": preview}
    response = render(request, "newsroom/article.html", context)
    if preview:
        response["X-Robots-Tag"] = "noindex"
    return response


def page(request, page):
    """`page` is already the Page: the URL converter (urls.ExistingPageSlug) matched it."""
    return render(request, "newsroom/page.html", {"page": page})


def search(request):
    """Every word of the query in title, lead or body (newsroom/search.py), with highlighted snippets."""
    search = Search.of(request.GET.get("q", ""))
    page = _page(request, search.articles())
    context = {"query": search.query, "search": search, "page": page, "hits": search.hits(page)}
    return render(request, "newsroom/search.html", context)


def page_not_found(request, exception=None):
    return render(request, "404.html", status=404)


def _page_without_database(template):
    # Kept free of database queries: the database may be why we are here (down, read-only, its disk
    # full). Rendered without the request, so no context processor runs — the site one reads (and may
    # create) the site profile — and with the little the layout needs given here.
    context = {"site_profile": None, "menu_topics": [], "SITE_URL": settings.SITE_URL, "language_switch": []}
    return render_to_string(template, context)


def server_error(request):
    return HttpResponseServerError(_page_without_database("500.html"))


def service_unavailable(request):
    """The answer when the database cannot take a reader's write (read-only, its disk full, locked
    too long): 503 and "try again later" (RFC 9110 §15.6.4), in the site's layout, without the database."""
    response = HttpResponse(_page_without_database("503.html"), status=503)
    response["Retry-After"] = "300"
    return response


def raise_404(request):
    raise Http404
