from django.urls import path, register_converter

from rundbrief.audience import views


class TokenConverter:
    # django.core.signing output: URL-safe base64 and ":" separators.
    regex = r"[A-Za-z0-9_\-:]{10,300}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(TokenConverter, "token")

app_name = "audience"

urlpatterns = [
    path("newsletter/", views.signup, name="signup"),
    path("newsletter/challenge/", views.challenge, name="challenge"),
    path("newsletter/bestaetigen/<token:token>/", views.confirm, name="confirm"),
    # Short and without a trailing slash: it goes into List-Unsubscribe headers (RFC 2369, RFC 8058).
    path("u/<token:token>", views.unsubscribe, name="unsubscribe"),
    path("p/<token:token>", views.preferences, name="preferences"),
    path("d/<token:token>", views.export_download, name="export-download"),
]
