"""Form fields for a subscriber's attributes, one per definition (the subscriber's admin page)."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from rundbrief.audience.attributes import clean_values
from rundbrief.audience.models import AttributeDefinition

Type = AttributeDefinition.Type
PREFIX = "attr__"


def _field(definition):
    label = definition.localised.label
    if definition.type == Type.BOOLEAN:
        choices = [("", _("not set")), ("true", _("yes")), ("false", _("no"))]
        return forms.ChoiceField(label=label, choices=choices, required=False)
    if definition.type == Type.CHOICE:
        choices = [("", _("not set"))] + [(c, c) for c in definition.choices]
        return forms.ChoiceField(label=label, choices=choices, required=False)
    help_text = {Type.NUMBER: _("A number, e.g. 1500 or 2,5."), Type.DATE: _("A date: YYYY-MM-DD or DD.MM.YYYY.")}
    return forms.CharField(label=label, required=False, help_text=help_text.get(definition.type, ""))


def attribute_fields():
    """(form field name, field) per definition, in key order."""
    for definition in AttributeDefinition.objects.order_by("key"):
        yield PREFIX + definition.key, _field(definition)


class SubscriberAttributesForm(forms.ModelForm):
    """Checks the attribute values with the same rules as the API (audience/attributes.py);
    `attribute_values` is what set_attributes receives ("" removes a value)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.attributes or {}
        for name in self.fields:
            if name.startswith(PREFIX) and (value := stored.get(name[len(PREFIX) :])) is not None:
                self.initial[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)

    def clean(self):
        cleaned = super().clean()
        values = {name[len(PREFIX) :]: cleaned.get(name, "") for name in self.fields if name.startswith(PREFIX)}
        try:
            clean_values(values)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        self.attribute_values = values
        return cleaned
