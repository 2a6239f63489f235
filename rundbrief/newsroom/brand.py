"""The site's brand colours: hex values checked once, when an editor saves them, and read by the site's
stylesheet and every mail layout (rundbrief/templates/email/_brand_header.html).

The primary colour carries white button text and is the link colour on white, so it must reach
WCAG 2.1's AA contrast for normal text, 4.5:1 (success criterion 1.4.3). The accent colour only
draws rules and borders, where 3:1 against white is enough for a graphical object (SC 1.4.11)."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

DEFAULT_PRIMARY = "#7a5c12"
DEFAULT_ACCENT = "#b8860b"
HEX = re.compile(r"#[0-9a-f]{6}")
TEXT_CONTRAST = 4.5  # WCAG 2.1 SC 1.4.3, normal text
GRAPHIC_CONTRAST = 3.0  # WCAG 2.1 SC 1.4.11, non-text contrast


def normalise_hex(value: str) -> str:
    """'#7A5C12' and ' #7a5c12 ' both as '#7a5c12'; the short form '#abc' spelt out."""
    value = value.strip().lower()
    if re.fullmatch(r"#[0-9a-f]{3}", value):
        value = "#" + "".join(ch * 2 for ch in value[1:])
    return value


def relative_luminance(hex_colour: str) -> float:
    """The sRGB relative luminance as WCAG 2.1 defines it (its glossary, "relative luminance")."""
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_with_white(hex_colour: str) -> float:
    return 1.05 / (relative_luminance(hex_colour) + 0.05)


def _check(value, minimum):
    colour = normalise_hex(value)
    if not HEX.fullmatch(colour):
        raise ValidationError(
            _("Enter a colour as # and six hexadecimal digits, e.g. #7a5c12."), code="invalid", params={"value": value}
        )
    ratio = contrast_with_white(colour)
    if ratio < minimum:
        raise ValidationError(
            _("%(value)s is too light on white: contrast %(ratio).1f:1, at least %(minimum).1f:1 is needed."),
            code="contrast",
            params={"value": colour, "ratio": ratio, "minimum": minimum},
        )


def validate_primary(value):
    _check(value, TEXT_CONTRAST)


def validate_accent(value):
    _check(value, GRAPHIC_CONTRAST)


def validate_logo_url(value):
    """A path on this site or an https address: a mail shows no image from plain http in most programs,
    and nothing but an image address belongs here."""
    if not (value.startswith("/") and not value.startswith("//")) and not value.startswith("https://"):
        raise ValidationError(_("Enter a path starting with / or an address starting with https://."), code="invalid")
    if any(ch.isspace() or ch in "\"'<>" for ch in value):
        raise ValidationError(_("An address has no spaces, quotes or angle brackets."), code="invalid")


def is_safe_link(value: str) -> bool:
    """A path on this site, or an http(s) address, without whitespace, quotes or angle brackets."""
    lowered = value.strip().lower()
    if not (value.startswith("/") and not value.startswith("//")) and not lowered.startswith(("https://", "http://")):
        return False
    return not any(ch.isspace() or ch in "\"'<>" for ch in value)


def validate_link(value):
    """The imprint and privacy links: an editor's `javascript:…` there would run in every reader's
    browser from every page's footer and from the double-opt-in mail (stored XSS)."""
    if value and not is_safe_link(value):
        raise ValidationError(
            _("Enter a path starting with / or an address starting with https:// (or http://)."), code="invalid"
        )


def safe_link(value: str) -> str:
    """The link if it is one (see is_safe_link), else "": a value written around the form never reaches a page."""
    return value if value and is_safe_link(value) else ""


def colour_or(value: str, default: str) -> str:
    """The stored colour if it is a valid hex value, else the default: what reaches a stylesheet is
    never anything but # and six hex digits, whatever was written to the database around the form."""
    colour = normalise_hex(value or "")
    return colour if HEX.fullmatch(colour) else default
