"""The HTTP API, mounted at /api/v1/ (docs/api.md). Endpoints are thin: they call audience actions."""

from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from rundbrief.api import segments, subscribers, subscriptions

api = NinjaAPI(
    title="Rundbrief API",
    version="1",
    description="Newsletter sign-up with double opt-in, and subscriber administration with bearer tokens.",
    urls_namespace="api-v1",
    docs_url=None,  # the interactive page would load scripts from a CDN; the schema is at /api/v1/openapi.json
)
api.add_router("/subscriptions", subscriptions.router)
api.add_router("/", subscribers.router)
api.add_router("/", segments.router)


@api.exception_handler(ValidationError)
def validation_error(request, exc):
    # 422 with one readable line per problem, e.g. "consent_text_version: Input should be …".
    lines = []
    for error in exc.errors:
        loc = list(error.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path"):
            loc = loc[1:]
        if loc and loc[0] == "payload":  # the parameter name of every request body
            loc = loc[1:]
        where = ".".join(str(part) for part in loc)
        lines.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
    return api.create_response(request, {"detail": "; ".join(lines) or "invalid request"}, status=422)


@api.exception_handler(AuthenticationError)
def authentication_error(request, exc):
    response = api.create_response(request, {"detail": "a valid bearer token is required"}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="rundbrief"'
    return response


@api.exception_handler(HttpError)
def http_error(request, exc):
    response = api.create_response(request, {"detail": exc.message}, status=exc.status_code)
    if exc.status_code == 429:
        response["Retry-After"] = "60"
    return response
