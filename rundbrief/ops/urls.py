from django.contrib import admin
from django.urls import path

from rundbrief.ops import dashboard, views

app_name = "ops"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    # Staff only (admin_view); before the admin's own URLs, so /admin/ does not answer 404 for it.
    path("admin/dashboard/", admin.site.admin_view(dashboard.dashboard), name="dashboard"),
]
