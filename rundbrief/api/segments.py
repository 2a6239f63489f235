"""Attributes and segments over the API: definitions, a subscriber's values, segments and their count.

Thin, like the rest of the API: audience/attributes.py and audience/segments.py check and write;
their ValidationError becomes a 422 naming what is wrong (docs/api.md).
"""

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils import translation
from ninja import Router, Status
from ninja.errors import HttpError

from rundbrief.api.auth import TokenAuth
from rundbrief.api.schemas import (
    AttributeDefinitionIn,
    AttributeDefinitionOut,
    AttributesIn,
    AttributesOut,
    Problem,
    SegmentCount,
    SegmentIn,
    SegmentOut,
)
from rundbrief.api.subscribers import _get
from rundbrief.audience import attributes, segments
from rundbrief.audience.models import AttributeDefinition, Segment

router = Router(tags=["attributes and segments"])
READ, WRITE = TokenAuth("read"), TokenAuth("write")


def _checked(fn, *args, **kwargs):
    with translation.override("en"):  # API messages are English, like the schema they belong to
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):  # a model's full_clean: name the field, e.g. "key: Use lower-case …"
                lines = [f"{field}: {m}" for field, messages in exc.message_dict.items() for m in messages]
            else:
                lines = exc.messages
            raise HttpError(422, "; ".join(lines)) from None


def definition_out(d):
    return {"key": d.key, "label": d.label, "label_en": d.label_en, "type": d.type, "choices": d.choices}


def segment_out(segment):
    rules = [
        {
            "field": r.field,
            "attribute": r.attribute.key if r.attribute_id else None,
            "operator": r.operator,
            "value": r.value,
        }
        for r in segment.rules.select_related("attribute")
    ]
    return {"id": segment.pk, "name": segment.name, "match": segment.match, "rules": rules}


@router.get("/attributes", response=list[AttributeDefinitionOut], summary="List attribute definitions", auth=READ)
def list_attributes(request):
    return [definition_out(d) for d in AttributeDefinition.objects.order_by("key")]


@router.post(
    "/attributes", response={201: AttributeDefinitionOut, 422: Problem}, summary="Define an attribute", auth=WRITE
)
def define_attribute(request, payload: AttributeDefinitionIn):
    definition = _checked(attributes.define_attribute, **payload.dict())
    return Status(201, definition_out(definition))


@router.put(
    "/subscribers/{public_id}/attributes",
    response={200: AttributesOut, 404: Problem, 422: Problem},
    summary="Set a subscriber's attributes",
    auth=WRITE,
)
def set_subscriber_attributes(request, public_id: str, payload: AttributesIn):
    subscriber = _get(public_id)
    stored = _checked(attributes.set_attributes, subscriber, payload.attributes, source=request.auth.source)
    return Status(200, {"attributes": stored})


@router.get("/segments", response=list[SegmentOut], summary="List segments", auth=READ)
def list_segments(request):
    return [segment_out(s) for s in Segment.objects.prefetch_related("rules")]


@router.post("/segments", response={201: SegmentOut, 422: Problem}, summary="Create a segment", auth=WRITE)
def create_segment(request, payload: SegmentIn):
    rules = [rule.dict() for rule in payload.rules]
    segment = _checked(segments.save_segment, name=payload.name, match=payload.match, rules=rules)
    return Status(201, segment_out(segment))


@router.get("/segments/{segment_id}", response={200: SegmentOut, 404: Problem}, summary="Read a segment", auth=READ)
def read_segment(request, segment_id: int):
    return Status(200, segment_out(get_object_or_404(Segment, pk=segment_id)))


@router.get(
    "/segments/{segment_id}/count",
    response={200: SegmentCount, 404: Problem},
    summary="Count a segment's subscribers now",
    auth=READ,
)
def count_segment(request, segment_id: int):
    segment = get_object_or_404(Segment, pk=segment_id)
    return Status(200, {"id": segment.pk, "count": segments.segment_count(segment)})
