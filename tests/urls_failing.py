from django.urls import path

from rundbrief.urls import handler404, handler500  # noqa: F401
from rundbrief.urls import urlpatterns as site_urlpatterns


def boom(request):
    raise RuntimeError("deliberate failure for the 500 page test")


urlpatterns = [path("boom/", boom), *site_urlpatterns]
