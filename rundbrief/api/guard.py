"""What every /api/v1/ request passes before its endpoint: JSON bodies only, and the CORS policy.

- A request with a body must say `Content-Type: application/json` (415 otherwise). A browser sends
  `text/plain`, form and multipart bodies across sites without asking first (a "simple request",
  Fetch standard §3.2.3), so any page a visitor opens could otherwise make her browser create
  sign-ups; JSON needs a CORS preflight, which only the origins below pass.
- A body larger than DATA_UPLOAD_MAX_MEMORY_SIZE answers 413 as JSON before anything reads it
  (Django would raise RequestDataTooBig inside the endpoint: a 500 in debug, an HTML 400 otherwise).
- CORS: cross-origin browser calls are refused unless the calling page's origin is listed in
  `RUNDBRIEF_API_CORS_ORIGINS` (e.g. a shop's checkout on another domain that starts the double
  opt-in from the visitor's browser). Those get a preflight answer and `Access-Control-Allow-Origin`;
  credentials (cookies) are never allowed: the API authenticates by bearer token only.
"""

from django.conf import settings
from django.http import JsonResponse

PREFIX = "/api/v1/"
BODY_METHODS = {"POST", "PUT", "PATCH"}
PREFLIGHT_MAX_AGE = "600"


class ApiGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(PREFIX):
            return self.get_response(request)
        origin = request.headers.get("Origin")
        allowed = origin in settings.RUNDBRIEF_API_CORS_ORIGINS if origin else False
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            if not allowed:
                return JsonResponse({"detail": "cross-origin requests from this origin are not allowed"}, status=403)
            response = JsonResponse({}, status=204)
            response["Access-Control-Allow-Methods"] = "GET, POST, PATCH, DELETE"
            response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
            return self._cors(response, origin)
        if request.method in BODY_METHODS and request.content_type != "application/json":
            response = JsonResponse({"detail": "send the body as JSON (Content-Type: application/json)"}, status=415)
        elif request.method in BODY_METHODS and _length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            response = JsonResponse({"detail": f"the body is larger than {limit} bytes"}, status=413)
        else:
            response = self.get_response(request)
        return self._cors(response, origin) if allowed else response

    @staticmethod
    def _cors(response, origin):
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
        return response


def _length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
