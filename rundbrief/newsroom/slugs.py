"""Slugs from German titles: umlauts and ß spelt out as German does without them ("Südafrika" →
"suedafrika"), before Django's slugify, which would drop the dots and leave "sudafrika".

The admin's slug field is filled in the browser by Django's URLify; newsroom/static/newsroom/admin/
urlify_de.js spells the same letters out there, so a slug reads the same however it was made."""

from django.utils.text import slugify

# DIN 5007-2 spelling: the letter and its e; the capital ẞ like ß.
GERMAN_LETTERS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ẞ": "SS"})


def slugify_de(text: str) -> str:
    return slugify(str(text).translate(GERMAN_LETTERS))
