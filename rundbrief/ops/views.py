"""Probes and metrics for operators: /healthz, /readyz, /metrics (docs/operations.md).

All three live outside i18n_patterns and outside the session machinery's concerns:
no language prefix, no login, no CSRF (GET only).
"""

import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rundbrief.audience.clientip import client_ip
from rundbrief.ops import probes
from rundbrief.ops.metrics import registry

log = logging.getLogger("rundbrief.ops")


@never_cache
@require_GET
def healthz(request):
    """The process is alive and answers; touches neither database nor SMTP."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """Ready for traffic: the database answers, the first SMTP transport greets us, and the disk
    under RUNDBRIEF_VAR_DIR has room (a full disk makes every sign-up fail).

    The answer is public, so it names only which check failed; why (host names, driver messages)
    goes to the log, where the operator reads it."""
    checks = {"database": probes.database_problem(), "smtp": probes.smtp_problem(), "disk": probes.disk_problem()}
    for name, problem in checks.items():
        if problem:
            log.warning("readyz: %s unavailable: %s", name, problem)
    ready = not any(checks.values())
    body = {"status": "ok" if ready else "unavailable"}
    body.update({name: "unavailable" if problem else "ok" for name, problem in checks.items()})
    return JsonResponse(body, status=200 if ready else 503)


def _client_allowed(request) -> bool:
    """A valid bearer token (METRICS_TOKEN), or a client address inside METRICS_ALLOWED_IPS.

    The client is judged as the rate limits judge it (audience/clientip.py): X-Forwarded-For counts
    only when it comes from a proxy in RUNDBRIEF_TRUSTED_PROXIES. Behind nginx REMOTE_ADDR is always
    the proxy, which the allow-list would let through for the whole internet; so a forwarded request
    from a proxy that is not trusted is refused rather than judged by the proxy's address.
    """
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[7:].strip().encode(), token.encode())
    remote = request.META.get("REMOTE_ADDR", "")
    if "HTTP_X_FORWARDED_FOR" in request.META and client_ip(request) == remote:
        return False  # forwarded, but not by a proxy we trust: the real client is unknown
    try:
        client = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    for allowed in settings.METRICS_ALLOWED_IPS:
        try:
            if client in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    return False


@never_cache
@require_GET
def metrics(request):
    """Prometheus text exposition, computed from the database at scrape time (ops/metrics.py)."""
    if not _client_allowed(request):
        return HttpResponseForbidden("metrics: bearer token or an allowed client address required\n")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
