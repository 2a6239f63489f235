"""State changes of the API's own records: its clients' bearer tokens (docs/api.md).

The `api-token` command calls these; a token's plain text is returned once and stored nowhere.
"""

import secrets

from django.utils import timezone

from rundbrief.api.models import SCOPES, TOKEN_PREFIX, ApiToken, token_digest


def issue_api_token(name: str, scopes=("signup",)) -> tuple[ApiToken, str]:
    """Create a token for the client `name` that may do `scopes` (models.SCOPES; least privilege by
    default: sign-ups only); returns (ApiToken, the token in plain text).
    IntegrityError if a token of that name exists; ValueError for an unknown scope."""
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes: expected some of {', '.join(SCOPES)}, got {', '.join(unknown) or 'none'}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 random bits
    ordered = ",".join(scope for scope in SCOPES if scope in scopes)
    return ApiToken.objects.create(name=name, token_sha256=token_digest(token), scopes=ordered), token


def revoke_api_token(name: str) -> bool:
    """Revoke the active token of that name; requests with it get 401 from then on. False if none was active."""
    return bool(ApiToken.objects.filter(name=name, revoked_at__isnull=True).update(revoked_at=timezone.now()))
