from django import template
from django.conf import settings
from django.utils import translation

from rundbrief.audience.models import ConsentText

register = template.Library()


@register.simple_tag
def current_consent_text():
    """The newest consent text in the page's language; its pk travels with the form as proof."""
    return ConsentText.current(translation.get_language()) or ConsentText.current("de")


@register.inclusion_tag("audience/_proof_of_work.html")
def proof_of_work(form=None):
    """The proof-of-work's hidden field, its announced status and its script, when the check is on."""
    return {"enabled": settings.RUNDBRIEF_SIGNUP_PROOF_OF_WORK, "form": form}


@register.filter
def masked_address(address):
    """anna.mueller@example.de → a••••••••••r@example.de: its owner recognises it, someone a mail was
    forwarded to does not learn it. The domain stays whole; one or two characters are all masked."""
    local, at, domain = str(address).rpartition("@")
    if not at:
        return "•" * len(str(address))
    if len(local) <= 2:
        return "•" * len(local) + at + domain
    return local[0] + "•" * (len(local) - 2) + local[-1] + at + domain
