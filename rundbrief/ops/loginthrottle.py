"""The admin login, throttled: after RUNDBRIEF_LOGIN_FAILURES_PER_USER failed logins for one user name,
or RUNDBRIEF_LOGIN_FAILURES_PER_IP from one client, within LOCKOUT_SECONDS, no login is tried at all —
not even with the right password — until the window has passed.

The admin holds every subscriber's address and consent evidence; an unthrottled login let a guesser
try a hundred passwords a minute (GDPR Art. 32: security of processing). Counted in the shared
rate windows (db/windows.py), so the limit holds across gunicorn workers and hosts; keys are keyed
hashes, so the table keeps no user names or addresses.
"""

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.clientip import client_ip
from rundbrief.audience.ratelimit import ip_key
from rundbrief.db import windows

LOCKOUT_SECONDS = 15 * 60


def _keys(request, username):
    user_key = "login-user:" + subject_hash((username or "").strip().lower())[:40]
    return user_key, "login-" + ip_key(client_ip(request) if request is not None else "")


class ThrottledLoginForm(AdminAuthenticationForm):
    def clean(self):
        user_key, ip_key_ = self._throttle_keys()
        if (
            windows.current(user_key, LOCKOUT_SECONDS) >= settings.RUNDBRIEF_LOGIN_FAILURES_PER_USER
            or windows.current(ip_key_, LOCKOUT_SECONDS) >= settings.RUNDBRIEF_LOGIN_FAILURES_PER_IP
        ):
            raise ValidationError(
                _("Too many failed logins. Please wait a quarter of an hour and try again."), code="throttled"
            )
        try:
            return super().clean()
        except ValidationError as exc:
            if getattr(exc, "code", None) == "invalid_login":  # a wrong password, not an inactive account
                windows.count(user_key, LOCKOUT_SECONDS)
                windows.count(ip_key_, LOCKOUT_SECONDS)
            raise

    def _throttle_keys(self):
        return _keys(self.request, self.cleaned_data.get("username"))
