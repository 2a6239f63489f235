"""The baseline of bench/signup.py: the same Django stack and middleware, a view that does nothing.

Served only by the benchmark (DJANGO_SETTINGS_MODULE=bench.bare_settings); no product URL.
"""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # like the API: the sign-up endpoint is called without a CSRF token
def bare(request):
    return HttpResponse("ok")


urlpatterns = [path("api/v1/subscriptions", bare)]
