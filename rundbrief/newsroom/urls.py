from django.urls import path

from rundbrief.newsroom import feeds, views

app_name = "newsroom"

urlpatterns = [
    path("", views.home, name="home"),
    path("artikel/<slug:slug>/", views.article, name="article"),
    path("themen/<slug:slug>/", views.topic, name="topic"),
    path("suche/", views.search, name="search"),
    path("vorschau/<int:pk>/", views.preview, name="preview"),
    path("feed/rss/", feeds.LatestArticlesFeed(), name="feed-rss"),
    path("feed/atom/", feeds.LatestArticlesAtomFeed(), name="feed-atom"),
    path("themen/<slug:slug>/feed/rss/", feeds.TopicFeed(), name="topic-feed-rss"),
    path("themen/<slug:slug>/feed/atom/", feeds.TopicAtomFeed(), name="topic-feed-atom"),
    # Last in the last URLconf: a page's address never hides one the site already uses.
    path("<slug:slug>/", views.page, name="page"),
]
