from django.contrib import admin
from django.urls import path

from rundbrief.ops import dashboard, views

app_name = "ops"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
]

# The dashboard is part of the admin and speaks its language, so rundbrief/urls.py includes it in
# i18n_patterns (/admin/dashboard/, English /en/admin/dashboard/), before the admin's own URLs, which
# would answer 404 for it. Staff only (admin_view). Reversed as {% url "dashboard" %}.
admin_urlpatterns = [
    path("admin/dashboard/", admin.site.admin_view(dashboard.dashboard), name="dashboard"),
]
