"""State changes of the API's own records: its clients' bearer tokens (docs/api.md).

The `api-token` command calls these; a token's plain text is returned once and stored nowhere.
"""

import secrets

from django.utils import timezone

from rundbrief.api.models import TOKEN_PREFIX, ApiToken, token_digest


def issue_api_token(name: str) -> tuple[ApiToken, str]:
    """Create a token for the client `name`; returns (ApiToken, the token in plain text).
    IntegrityError if a token of that name exists."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 random bits
    return ApiToken.objects.create(name=name, token_sha256=token_digest(token)), token


def revoke_api_token(name: str) -> bool:
    """Revoke the active token of that name; requests with it get 401 from then on. False if none was active."""
    return bool(ApiToken.objects.filter(name=name, revoked_at__isnull=True).update(revoked_at=timezone.now()))
