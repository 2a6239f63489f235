from django.urls import path

from rundbrief.urls import handler404, handler500, urlpatterns as site_urlpatterns  # noqa: F401


def boom(request):
    raise RuntimeError("deliberate failure for the 500 page test")


urlpatterns = [path("boom/", boom), *site_urlpatterns]
