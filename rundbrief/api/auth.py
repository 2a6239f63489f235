"""`Authorization: Bearer <token>` for the admin endpoints (docs/api.md)."""

from ninja.security import HttpBearer

from rundbrief.api.models import ApiToken


class TokenAuth(HttpBearer):
    def authenticate(self, request, token):
        return ApiToken.authenticate(token)


def optional_token(request):
    """The ApiToken of a request that presents one, else None: the public endpoint works without."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return ApiToken.authenticate(token.strip()) if scheme.lower() == "bearer" else None
