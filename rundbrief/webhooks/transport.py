"""One webhook request over urllib: POST, a short timeout, no redirects, no proxy; only 2xx is success."""

import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings

USER_AGENT = "Rundbrief-Webhooks/1"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A 3xx is an answer, not a success: following it would send the signed body to an address the
    # operator never configured.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _opener():
    # An empty ProxyHandler: no proxy from the environment, the receiver is often on the LAN
    # (docs/integrations.md). Built per request, as cheap as the request object itself.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)


@dataclass(frozen=True)
class Answer:
    status_code: int | None  # None: no HTTP answer at all (refused, timed out, DNS)
    error: str
    duration_ms: int

    @property
    def succeeded(self):
        return self.status_code is not None and 200 <= self.status_code < 300

    def __str__(self):
        return f"HTTP {self.status_code}" if self.status_code is not None else self.error


def post(url, body, headers, timeout=None):
    """POST `body` (a str, sent as UTF-8 JSON) with `headers`; never raises for the receiver's faults."""
    timeout = settings.RUNDBRIEF_WEBHOOK_TIMEOUT if timeout is None else timeout
    request = urllib.request.Request(
        url,
        data=body.encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
    )
    started = time.monotonic()

    def took():
        return int((time.monotonic() - started) * 1000)

    try:
        with _opener().open(request, timeout=timeout) as response:
            response.read(4096)  # the receiver's answer is not kept; read a little so it may finish cleanly
            return Answer(response.status, "", took())
    except urllib.error.HTTPError as exc:  # 3xx (not followed), 4xx, 5xx
        exc.close()
        return Answer(exc.code, "", took())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Answer(None, f"{type(reason).__name__}: {reason}"[:300], took())
