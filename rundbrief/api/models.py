"""Bearer tokens of API clients (docs/api.md). Only a SHA-256 of each token is stored."""

import hashlib

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

TOKEN_PREFIX = "rb_"


def token_digest(token: str) -> str:
    # A token has 256 random bits, so a plain SHA-256 is enough: nothing to brute-force, unlike a password.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# signup: POST /api/v1/subscriptions as this client; read: list, look up, read, proof;
# write: change a subscriber's topics; erase: DELETE a subscriber (GDPR Art. 17).
SCOPES = ("signup", "read", "write", "erase")


class ApiToken(models.Model):
    """One API client, e.g. a shop. Its name is recorded as the source of every consent event it causes."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    token_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    # What the token may do (SCOPES), comma-separated: a shop's checkout needs "signup" only, not the
    # right to list, change, erase or read the proof of every subscriber.
    scopes = models.CharField(_("scopes"), max_length=100, default="signup")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return self.name

    @classmethod
    def authenticate(cls, token):
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        return cls.objects.filter(token_sha256=token_digest(token), revoked_at__isnull=True).first()

    def allows(self, scope) -> bool:
        return scope in self.scopes.split(",")

    @property
    def source(self):
        """How consent events caused through this token name their origin (GDPR Art. 7(1): proof)."""
        return f"api:{self.name}"
