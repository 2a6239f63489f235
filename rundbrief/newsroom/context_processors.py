from django.conf import settings

from rundbrief.newsroom.models import SiteProfile, Topic


def site(request):
    """The header and footer on every page: profile, topic menu, absolute base URL."""
    return {
        "site_profile": SiteProfile.load(),
        "menu_topics": Topic.objects.all(),
        "SITE_URL": settings.SITE_URL,
        "canonical_url": settings.SITE_URL + request.path,
        "default_language": settings.LANGUAGE_CODE,
    }
