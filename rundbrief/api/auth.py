"""`Authorization: Bearer <token>` for the admin endpoints, each needing its scope (docs/api.md)."""

from ninja.errors import HttpError
from ninja.security import HttpBearer

from rundbrief.api.models import ApiToken


class TokenAuth(HttpBearer):
    """A valid token (401 otherwise) that holds `scope` (403 otherwise)."""

    def __init__(self, scope):
        super().__init__()
        self.scope = scope

    def authenticate(self, request, token):
        record = ApiToken.authenticate(token)
        if record is not None and not record.allows(self.scope):
            raise HttpError(403, f"this token lacks the scope {self.scope!r}")
        return record


def optional_token(request):
    """The ApiToken of a request that presents one, else None: the public endpoint works without.
    A token presented without the "signup" scope is refused (403) rather than ignored."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    record = ApiToken.authenticate(token.strip()) if scheme.lower() == "bearer" else None
    if record is not None and not record.allows("signup"):
        raise HttpError(403, "this token lacks the scope 'signup'")
    return record
