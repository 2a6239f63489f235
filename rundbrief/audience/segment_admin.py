"""The admin of subscriber attributes and segments: definitions, the segment builder and its live count.

The builder is server-rendered: a segment's rules are an inline formset (field – operator – value
rows, all or any), checked row by row with audience/segments.py: check_rule and saved through
save_segment, like the API's. The count is computed when the page is shown (docs/segments.md).
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from rundbrief.audience import attributes, segments
from rundbrief.audience.models import AttributeDefinition, Segment, SegmentRule

Type = AttributeDefinition.Type


class AttributeDefinitionForm(forms.ModelForm):
    choice_list = forms.CharField(
        label=_("choices"),
        required=False,
        help_text=_("For the type choice: the allowed values, separated by commas."),
    )

    class Meta:
        model = AttributeDefinition
        fields = ["key", "label", "label_en", "type"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.setdefault("choice_list", ", ".join(self.instance.choices or []))

    def clean(self):
        cleaned = super().clean()
        choices = [c.strip() for c in cleaned.get("choice_list", "").split(",") if c.strip()]
        kind = cleaned.get("type") or self.instance.type
        try:
            attributes.check_choices(kind, choices)
        except ValidationError as exc:
            self.add_error("choice_list", exc.message_dict["choices"])
        removed = set(self.instance.choices or []) - set(choices)
        if self.instance.pk and removed and self.instance.rules.filter(value__in=removed).exists():
            self.add_error("choice_list", _("A segment's rule uses a choice you removed; change the segment first."))
        self.instance.choices = choices if kind == Type.CHOICE else []
        return cleaned


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(admin.ModelAdmin):
    form = AttributeDefinitionForm
    list_display = ["key", "label", "type"]
    fields = ["key", "label", "label_en", "type", "choice_list"]

    def get_readonly_fields(self, request, obj=None):
        # The key is in rules and JSON paths, the type in every stored value: both fixed once created.
        return ["key", "type"] if obj is not None else []

    def delete_model(self, request, obj):
        attributes.delete_attribute(obj)  # strips the values; PROTECT keeps one a segment uses

    def delete_queryset(self, request, queryset):
        for definition in queryset:
            try:
                attributes.delete_attribute(definition)
            except ProtectedError:
                message = gettext("%(key)s is used by a segment and was kept.") % {"key": definition.key}
                self.message_user(request, message, level="error")


class RuleForm(forms.ModelForm):
    field = forms.ChoiceField(label=_("field"), choices=segments.field_choices)
    operator = forms.ChoiceField(label=_("operator"), choices=lambda: list(segments.OPERATORS.items()))

    class Meta:
        model = SegmentRule
        fields = ["field", "attribute", "operator", "value"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            cleaned["value"] = segments.check_rule(
                cleaned["field"], cleaned["operator"], cleaned.get("value", ""), cleaned.get("attribute")
            )
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        if cleaned["field"] != "attribute":
            cleaned["attribute"] = None
        return cleaned


class RuleInline(admin.TabularInline):
    model = SegmentRule
    form = RuleForm
    extra = 1
    verbose_name = _("rule")
    verbose_name_plural = _("rules: field – operator – value")


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "match", "rule_count"]
    fields = ["name", "match", "live_count"]
    readonly_fields = ["live_count"]
    inlines = [RuleInline]

    @admin.display(description=_("rules"))
    def rule_count(self, obj):
        return obj.rules.count()

    @admin.display(description=_("subscribers now"))
    def live_count(self, obj):
        if obj is None or obj.pk is None:
            return gettext("shown once the segment is saved")
        count = segments.segment_count(obj)
        text = ngettext("currently %(count)s confirmed subscriber", "currently %(count)s confirmed subscribers", count)
        return text % {"count": number_format(count, force_grouping=True)}

    def save_model(self, request, obj, form, change):
        pass  # saved with its rules by save_related, through the action the API uses

    def save_related(self, request, form, formsets, change):
        (rules,) = formsets
        rows = []
        for row in rules.forms:
            data = getattr(row, "cleaned_data", None)
            if not data or data.get("DELETE"):
                continue
            attribute = data.get("attribute")
            rows.append(
                {
                    "field": data["field"],
                    "operator": data["operator"],
                    "value": data["value"],
                    "attribute": attribute.key if attribute else None,
                }
            )
        # The admin's history message reads these; the rows are replaced as a whole, not one by one.
        rules.new_objects, rules.changed_objects, rules.deleted_objects = [], [], []
        obj = form.instance
        segments.save_segment(name=obj.name, match=obj.match, rules=rows, segment=obj)
