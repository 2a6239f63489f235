from django.conf import settings
from django.utils import translation

from rundbrief.newsroom.languages import switch_path
from rundbrief.newsroom.models import SiteProfile, Topic


def site(request):
    """The header and footer on every page: profile, topic menu, absolute base URL, language switch."""
    return {
        "site_profile": SiteProfile.load(),
        "menu_topics": Topic.objects.all(),
        "SITE_URL": settings.SITE_URL,
        "canonical_url": settings.SITE_URL + request.path,
        "default_language": settings.LANGUAGE_CODE,
        "language_switch": _language_switch(request),
    }


def _language_switch(request):
    """The other languages, each with the current page's path in it (languages.switch_path)."""
    current = translation.get_language()
    return [
        {**translation.get_language_info(code), "path": switch_path(request, code)}
        for code, _name in settings.LANGUAGES
        if code != current
    ]
