from django import template
from django.utils import translation

from rundbrief.audience.models import ConsentText

register = template.Library()


@register.simple_tag
def current_consent_text():
    """The newest consent text in the page's language; its pk travels with the form as proof."""
    return ConsentText.current(translation.get_language()) or ConsentText.current("de")
