"""Subscriber attributes: typed custom fields (docs/segments.md). The one writer of Subscriber.attributes.

Definitions are made in the admin or the API; values are checked against them here, whoever sets
them (admin, API, import), and stored as one JSON object on the subscriber: numbers as JSON
numbers, yes/no as JSON booleans, dates as ISO strings (which sort as dates in SQL), text and
choices as strings. An empty value removes the key.
"""

import logging
import math
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from rundbrief.audience import jsonsql
from rundbrief.audience.models import AttributeDefinition, Subscriber

log = logging.getLogger(__name__)
Type = AttributeDefinition.Type
TEXT_MAX_LENGTH = 500
TRUE_WORDS = {"true", "yes", "ja", "1", "on"}
FALSE_WORDS = {"false", "no", "nein", "0", "off"}


def parse_number(value):
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        value = value.strip().replace(",", ".")  # German decimal comma: "1,5"
        value = float(value) if any(c in value for c in ".eE") else int(value)
    if not isinstance(value, int | float) or (isinstance(value, float) and not math.isfinite(value)):
        raise ValueError
    return value


def _date(value):
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    value = str(value).strip()
    if len(value) == 10 and value[2] == "." and value[5] == ".":  # German 31.12.2025
        value = f"{value[6:]}-{value[3:5]}-{value[:2]}"
    return date.fromisoformat(value).isoformat()


def _boolean(value):
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError


def clean_value(definition, value):
    """The value in its stored form, or ValidationError naming the key and what was expected."""
    expected = {
        Type.TEXT: _("text of at most %(max)d characters") % {"max": TEXT_MAX_LENGTH},
        Type.NUMBER: _("a number"),
        Type.DATE: _("a date (YYYY-MM-DD)"),
        Type.BOOLEAN: _("yes or no (true/false)"),
        Type.CHOICE: _("one of %(choices)s") % {"choices": ", ".join(definition.choices)},
    }[definition.type]
    try:
        if definition.type == Type.TEXT:
            if not isinstance(value, str) or len(value) > TEXT_MAX_LENGTH:
                raise ValueError
            return value
        if definition.type == Type.NUMBER:
            return parse_number(value)
        if definition.type == Type.DATE:
            return _date(value)
        if definition.type == Type.BOOLEAN:
            return _boolean(value)
        if not isinstance(value, str) or value not in definition.choices:
            raise ValueError
        return value
    except (TypeError, ValueError):
        message = _("%(key)s: %(value)s is not %(expected)s")
        shown = repr(value)[:60]
        raise ValidationError(message % {"key": definition.key, "value": shown, "expected": expected}) from None


def clean_values(values, definitions=None):
    """{key: stored value or None (remove)} for a mapping of keys to given values; ValidationError
    listing every problem (unknown key, wrong type, choice not allowed) and changing nothing."""
    if not isinstance(values, dict):
        raise ValidationError(_("attributes must be an object of key: value"))
    if definitions is None:
        definitions = {d.key: d for d in AttributeDefinition.objects.filter(key__in=list(values))}
    cleaned, errors = {}, []
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors.append(_("%(key)s: unknown attribute") % {"key": str(key)[:60]})
        elif value is None or value == "":
            cleaned[key] = None
        else:
            try:
                cleaned[key] = clean_value(definition, value)
            except ValidationError as exc:
                errors.extend(exc.messages)
    if errors:
        raise ValidationError(errors)
    return cleaned


def set_attributes(subscriber, values, *, source=""):
    """Set (or, with None or "", remove) some attributes of one subscriber; others stay as they are.
    Checked against the definitions first: one bad value changes nothing. Returns the new attributes."""
    cleaned = clean_values(values)
    with transaction.atomic():
        locked = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        attributes = dict(locked.attributes or {})
        for key, value in cleaned.items():
            if value is None:
                attributes.pop(key, None)
            else:
                attributes[key] = value
        locked.attributes = attributes or None
        locked.save(update_fields=["attributes"])
    subscriber.attributes = locked.attributes  # the caller's copy shows what was stored
    # Keys only: the values may be personal data, and logs keep no personal data (docs/operations.md).
    log.info("attributes of subscriber %s set (%s) by %s", subscriber.pk, ", ".join(sorted(cleaned)), source or "-")
    return subscriber.attributes or {}


def define_attribute(*, key, label, type, label_en="", choices=()):
    """Create a definition; ValidationError for a bad key, type or choice list."""
    definition = AttributeDefinition(key=key, label=label, label_en=label_en, type=type, choices=list(choices))
    definition.full_clean()
    check_choices(definition.type, definition.choices)
    definition.save()
    return definition


def check_choices(type, choices):
    if type == Type.CHOICE and (not choices or not all(isinstance(c, str) and c for c in choices)):
        raise ValidationError({"choices": _("A choice attribute needs at least one non-empty choice.")})


def delete_attribute(definition):
    """Delete a definition and strip its values from every subscriber (data minimisation, GDPR
    Art. 5(1)(c)). Refused (ProtectedError) while a segment rule uses it."""
    with transaction.atomic():
        key = definition.key
        definition.delete()  # raises ProtectedError first if a SegmentRule points at it
        q = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(jsonsql.remove_key(q(Subscriber._meta.db_table), q("attributes"), key))
