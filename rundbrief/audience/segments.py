"""Segments: saved filters over the audience, compiled to ONE SQL condition with parameters.

The live count (campaigns/audience.py, the admin) and the audience snapshot's INSERT … SELECT
(delivery/snapshot.py) put the same fragment into their WHERE, so the count a segment shows and
the rows a campaign writes cannot disagree (docs/segments.md). Values always travel as
parameters; only validated attribute keys are written into the statement (audience/jsonsql.py).

Fields: language, topic, confirmation date, sign-up source, attributes (operators by type), and
whatever apps above the audience register with `register_segment_field` from their
AppConfig.ready() — the bounces app adds the soft-bounce count, so the audience imports none of them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rundbrief.audience import jsonsql
from rundbrief.audience.attributes import parse_number
from rundbrief.audience.models import AttributeDefinition, ConsentEvent, Segment, SegmentRule, Subscriber, Subscription
from rundbrief.newsroom.models import Topic

MAX_DAYS = 36500
# Operator → its label; the value each takes is decided per field (value_kind below).
OPERATORS = {
    "is": gettext_lazy("is"),
    "is_not": gettext_lazy("is not"),
    "equals": gettext_lazy("equals"),
    "contains": gettext_lazy("contains"),
    "empty": gettext_lazy("is empty"),
    "starts_with": gettext_lazy("starts with"),
    "eq": "=",
    "lt": "<",
    "gt": ">",
    "before": gettext_lazy("before"),
    "after": gettext_lazy("after"),
    "within_days": gettext_lazy("within the last N days"),
    "true": gettext_lazy("is yes"),
    "false": gettext_lazy("is no (or not set)"),
    "at_least": gettext_lazy("at least"),
    "fewer_than": gettext_lazy("fewer than"),
}
# Attribute type → operator → kind of value.
ATTRIBUTE_OPERATORS = {
    AttributeDefinition.Type.TEXT: {"equals": "text", "contains": "word", "empty": "none"},
    AttributeDefinition.Type.NUMBER: {"eq": "number", "lt": "number", "gt": "number"},
    AttributeDefinition.Type.DATE: {"before": "date", "after": "date", "within_days": "days"},
    AttributeDefinition.Type.BOOLEAN: {"true": "none", "false": "none"},
    AttributeDefinition.Type.CHOICE: {"is": "choice", "is_not": "choice"},
}


@dataclass(frozen=True)
class Context:
    alias: str  # the subscriber table's alias in the statement, e.g. "s"
    now: datetime

    def column(self, name):
        return f"{self.alias}.{connection.ops.quote_name(name)}"


@dataclass(frozen=True)
class SegmentField:
    """A field rules can test: its operators (operator → kind of value) and its SQL."""

    name: str
    label: object
    operators: dict
    # (operator, value as checked, Context) → (SQL condition, parameters)
    compile: Callable[[str, str, Context], tuple[str, list]]


_fields: dict[str, SegmentField] = {}


def register_segment_field(field: SegmentField):
    """Make `field` available to segments; from an AppConfig.ready(). Registering a name again replaces it."""
    _fields[field.name] = field


def fields():
    """Every field a rule may use, "attribute" included (its operators depend on the attribute's type)."""
    return {**_fields, "attribute": None}


def field_choices():
    return [(name, f.label) for name, f in _fields.items()] + [("attribute", _("attribute"))]


def _table(model):
    return connection.ops.quote_name(model._meta.db_table)


def _dt(value):
    return connection.ops.adapt_datetimefield_value(value)


def _midnight(day):
    """The start of `day` in the site's time zone, as an aware datetime."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _language(op, value, ctx):
    return (f"{ctx.column('language')} {'=' if op == 'is' else '<>'} %s", [value])


def _topic(op, value, ctx):
    topic_id = Topic.objects.filter(slug=value).values_list("pk", flat=True).first()
    exists = (
        f"EXISTS (SELECT 1 FROM {_table(Subscription)} t WHERE t.subscriber_id = {ctx.alias}.id AND t.topic_id = %s)"
    )
    return (exists if op == "is" else f"NOT {exists}", [topic_id])


def _confirmed(op, value, ctx):
    column = ctx.column("confirmed_at")
    if op == "within_days":
        return (f"{column} >= %s", [_dt(ctx.now - timedelta(days=int(value)))])
    day = date.fromisoformat(value)
    if op == "before":
        return (f"{column} < %s", [_dt(_midnight(day))])
    return (f"{column} >= %s", [_dt(_midnight(day + timedelta(days=1)))])


def _source(op, value, ctx):
    # The source recorded when the subscriber signed up or was imported (the ledger's first word on her).
    match = "e.source = %s" if op == "equals" else "substr(e.source, 1, %s) = %s"
    params = [value] if op == "equals" else [len(value), value]
    sql = (
        f"EXISTS (SELECT 1 FROM {_table(ConsentEvent)} e WHERE e.subscriber_id = {ctx.alias}.id"
        f" AND e.kind IN ('requested', 'imported') AND {match})"
    )
    return (sql, params)


register_segment_field(
    SegmentField("language", gettext_lazy("language"), {"is": "language", "is_not": "language"}, _language)
)
register_segment_field(SegmentField("topic", gettext_lazy("topic"), {"is": "topic", "is_not": "topic"}, _topic))
register_segment_field(
    SegmentField(
        "confirmed_at",
        gettext_lazy("confirmed"),
        {"before": "date", "after": "date", "within_days": "days"},
        _confirmed,
    )
)
register_segment_field(
    SegmentField("source", gettext_lazy("sign-up source"), {"equals": "word", "starts_with": "word"}, _source)
)


def _attribute(attribute, op, value, ctx):
    column = ctx.column("attributes")
    kind = attribute.type
    if kind == AttributeDefinition.Type.NUMBER:
        symbol = {"eq": "=", "lt": "<", "gt": ">"}[op]
        return (f"{jsonsql.number(column, attribute.key)} {symbol} %s", [float(value)])
    if kind == AttributeDefinition.Type.BOOLEAN:
        true = jsonsql.is_true(column, attribute.key)
        # Not set counts as no: a box never ticked (docs/segments.md).
        return (true if op == "true" else f"NOT COALESCE({true}, FALSE)", [])
    text = jsonsql.text(column, attribute.key)
    if op in ("equals", "is"):
        return (f"{text} = %s", [value])
    if op == "is_not":  # not set counts as "is not": the rule reads "not gold customers"
        return (f"({text} IS NULL OR {text} <> %s)", [value])
    if op == "contains":
        return (jsonsql.contains(text), [value])
    if op == "empty":
        return (f"({text} IS NULL OR {text} = '')", [])
    if op == "within_days":
        since = timezone.localdate(ctx.now) - timedelta(days=int(value))
        return (f"{text} >= %s", [since.isoformat()])
    return (f"{text} {'<' if op == 'before' else '>'} %s", [value])


def operators_for(field, attribute=None):
    """operator → kind of value, for a field (and an attribute's type); {} for an unknown field."""
    if field == "attribute":
        return ATTRIBUTE_OPERATORS.get(attribute.type, {}) if attribute is not None else {}
    return _fields[field].operators if field in _fields else {}


def check_rule(field, operator, value, attribute=None):
    """The value as stored for a rule, or ValidationError saying what is wrong with the row."""
    if field not in fields():
        raise ValidationError(_("unknown field %(field)s") % {"field": repr(field)[:40]})
    if field == "attribute" and attribute is None:
        raise ValidationError(_("choose the attribute this rule tests"))
    kinds = operators_for(field, attribute)
    if operator not in kinds:
        allowed = ", ".join(kinds)
        raise ValidationError(
            _("operator %(op)s does not fit this field; use one of: %(allowed)s")
            % {"op": repr(operator)[:40], "allowed": allowed}
        )
    return _check_value(kinds[operator], str(value or "").strip(), attribute)


def _check_value(kind, value, attribute):
    try:
        if kind == "none":
            return ""
        if kind == "text":
            return value
        if not value:
            raise ValueError
        if kind == "word":
            return value
        if kind == "language":
            if value not in dict(settings.LANGUAGES):
                raise ValueError
            return value
        if kind == "topic":
            if not Topic.objects.filter(slug=value).exists():
                raise ValueError
            return value
        if kind == "choice":
            if value not in attribute.choices:
                raise ValueError
            return value
        if kind == "date":
            return date.fromisoformat(value).isoformat()
        if kind in ("days", "count"):
            number = int(value)
            if not 0 <= number <= MAX_DAYS:
                raise ValueError
            return str(number)
        return repr(float(parse_number(value)))
    except (TypeError, ValueError):
        raise ValidationError(
            _("%(value)s is not a valid value here (expected: %(kind)s)")
            % {"value": repr(value)[:60], "kind": _kind_word(kind)}
        ) from None


def _kind_word(kind):
    return {
        "word": _("some text"),
        "language": ", ".join(dict(settings.LANGUAGES)),
        "topic": _("a topic's slug"),
        "choice": _("one of the attribute's choices"),
        "date": _("a date (YYYY-MM-DD)"),
        "days": _("a whole number of days"),
        "count": _("a whole number"),
        "number": _("a number"),
    }.get(kind, kind)


def segment_sql(segment, *, alias="s", now=None):
    """(condition, parameters) for subscribers in the segment; "1 = 1" for a segment without rules."""
    ctx = Context(alias, now or timezone.now())
    parts, params = [], []
    for rule in segment.rules.select_related("attribute"):
        if rule.field == "attribute":
            sql, values = _attribute(rule.attribute, rule.operator, rule.value, ctx)
        else:
            sql, values = _fields[rule.field].compile(rule.operator, rule.value, ctx)
        parts.append(f"({sql})")
        params.extend(values)
    if not parts:
        return "1 = 1", []
    joiner = " AND " if segment.match == Segment.Match.ALL else " OR "
    return f"({joiner.join(parts)})", params


def segment_count(segment, *, now=None):
    """Confirmed subscribers in the segment right now (the admin's live count; topics aside)."""
    where, params = segment_sql(segment, now=now)
    sql = f"SELECT COUNT(*) FROM {_table(Subscriber)} s WHERE s.status = 'confirmed' AND {where}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def save_segment(*, name, match, rules, segment=None):
    """Create a segment (or replace an existing one's name, match and rules) from rule dicts
    {field, operator, value, attribute (key, for field "attribute")}. Every row is checked first;
    ValidationError lists the bad rows by number and nothing is saved."""
    if match not in Segment.Match.values:
        raise ValidationError(_("match must be one of: %(allowed)s") % {"allowed": ", ".join(Segment.Match.values)})
    checked, errors = [], []
    keys = [r.get("attribute") for r in rules if r.get("attribute")]
    definitions = {d.key: d for d in AttributeDefinition.objects.filter(key__in=keys)}
    for number, rule in enumerate(rules, 1):
        attribute = definitions.get(rule.get("attribute") or "")
        try:
            if rule.get("attribute") and attribute is None:
                raise ValidationError(_("unknown attribute %(key)s") % {"key": repr(rule["attribute"])[:60]})
            value = check_rule(rule.get("field"), rule.get("operator"), rule.get("value", ""), attribute)
        except ValidationError as exc:
            errors.extend(f"{_('rule')} {number}: {message}" for message in exc.messages)
            continue
        checked.append(SegmentRule(field=rule["field"], operator=rule["operator"], value=value, attribute=attribute))
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        segment = segment or Segment()
        segment.name, segment.match = name, match
        segment.full_clean()
        segment.save()
        segment.rules.all().delete()
        for rule in checked:
            rule.segment = segment
        SegmentRule.objects.bulk_create(checked)
    return segment
