from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.contrib.sitemaps.views import sitemap
from django.urls import include, path

from rundbrief.api.api import api
from rundbrief.newsroom.sitemaps import sitemaps
from rundbrief.ops.urls import admin_urlpatterns as dashboard_urlpatterns

urlpatterns = [
    path("sitemap.xml", sitemap, {"sitemaps": sitemaps}, name="sitemap"),
    # Answers 404 unless DEVMAIL_ENABLED (debug on, embedded capture in use).
    path("dev/outbox/", include("rundbrief.devmail.urls")),
    # The HTTP API has no language prefix (docs/api.md).
    path("api/v1/", api.urls),
    # Probes and metrics for operators: /healthz, /readyz, /metrics (docs/operations.md).
    path("", include("rundbrief.ops.urls")),
]

# German pages have no prefix, English ones live under /en/.
urlpatterns += i18n_patterns(
    path("", include(dashboard_urlpatterns)),  # /admin/dashboard/, before the admin's catch-all
    path("admin/", admin.site.urls),
    # /u/<token> works without a prefix (German, the default) and under /en/.
    path("", include("rundbrief.audience.urls")),
    # The newsletter archive and web versions; before the newsroom, whose last route takes any page slug.
    path("", include("rundbrief.campaigns.urls")),
    path("", include("rundbrief.newsroom.urls")),
    prefix_default_language=False,
)

handler404 = "rundbrief.newsroom.views.page_not_found"
handler500 = "rundbrief.newsroom.views.server_error"
