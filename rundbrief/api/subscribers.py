"""Admin endpoints: list, read, change topics, erase, and the proof of consent (token auth; docs/api.md).

Each change goes through the audience action the admin and the CLI use, with
the token's name as the source recorded in the consent ledger.
"""

import re

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import translation
from ninja import Query, Router, Status
from ninja.errors import HttpError

from rundbrief.api.auth import TokenAuth
from rundbrief.api.schemas import AddressIn, Problem, SubscriberOut, SubscriberPage, TopicsIn
from rundbrief.api.subscriptions import unknown_topics
from rundbrief.audience import actions
from rundbrief.audience.addresses import normalise_address
from rundbrief.audience.models import Subscriber
from rundbrief.audience.proof import proof_for_address

router = Router(tags=["subscribers"])
READ, WRITE, ERASE = TokenAuth("read"), TokenAuth("write"), TokenAuth("erase")
MAX_PER_PAGE = 500
PUBLIC_ID = re.compile(r"[0-9a-f]{32}")


def subscriber_out(subscriber):
    return {
        "id": subscriber.public_id,
        "email": subscriber.email,
        "status": subscriber.status,
        "language": subscriber.language,
        "topics": sorted(s.topic.slug for s in subscriber.subscriptions.all()),
        "requested_at": subscriber.requested_at,
        "confirmed_at": subscriber.confirmed_at,
        "withdrawn_at": subscriber.withdrawn_at,
        "attributes": subscriber.attributes or {},
    }


def _get(public_id):
    # Addressed by the opaque public id: no e-mail address in any URL (docs/decisions.md, "Tokens are signed, not stored").
    if not PUBLIC_ID.fullmatch(public_id):
        raise Http404
    return get_object_or_404(Subscriber.objects.prefetch_related("subscriptions__topic"), public_id=public_id)


def _address(email):
    try:
        return normalise_address(email)
    except ValidationError as exc:
        with translation.override("en"):  # API messages are English, like the schema they belong to
            raise HttpError(422, f"email: {exc.messages[0]}") from None


@router.get("/subscribers", response=SubscriberPage, summary="List subscribers", auth=READ)
def list_subscribers(
    request,
    status: Subscriber.Status | None = None,
    page: int = Query(1, ge=1, le=10**6),
    per_page: int = Query(100, ge=1, le=MAX_PER_PAGE),
):
    subscribers = Subscriber.objects.order_by("pk")
    if status:
        subscribers = subscribers.filter(status=status)
    start = (page - 1) * per_page
    items = subscribers.prefetch_related("subscriptions__topic")[start : start + per_page]
    return {
        "count": subscribers.count(),
        "page": page,
        "per_page": per_page,
        "items": [subscriber_out(s) for s in items],
    }


@router.post(
    "/subscribers/lookup",
    response={200: SubscriberOut, 404: Problem, 422: Problem},
    summary="Find a subscriber by address",
    auth=READ,
)
def lookup_subscriber(request, payload: AddressIn):
    subscriber = Subscriber.objects.filter(email=_address(payload.email)).first()
    if subscriber is None:
        return Status(404, {"detail": "no subscriber with this address"})
    return Status(200, subscriber_out(_get(subscriber.public_id)))


@router.get(
    "/subscribers/{public_id}", response={200: SubscriberOut, 404: Problem}, summary="Read a subscriber", auth=READ
)
def read_subscriber(request, public_id: str):
    return Status(200, subscriber_out(_get(public_id)))


@router.patch(
    "/subscribers/{public_id}",
    response={200: SubscriberOut, 404: Problem, 422: Problem},
    summary="Change a subscriber's topics",
    auth=WRITE,
)
def update_subscriber(request, public_id: str, payload: TopicsIn):
    subscriber = _get(public_id)
    if missing := unknown_topics(payload.topics):
        raise HttpError(422, f"topics: unknown topic(s) {', '.join(repr(s[:40]) for s in missing[:5])}")
    actions.update_preferences(subscriber, topics=payload.topics, source=request.auth.source)
    return Status(200, subscriber_out(_get(public_id)))


@router.delete(
    "/subscribers/{public_id}",
    response={204: None, 404: Problem, 503: Problem},
    summary="Erase a subscriber",
    auth=ERASE,
)
def erase_subscriber(request, public_id: str):
    """GDPR Art. 17: personal data removed, ledger anonymised, the address's HMAC kept on the suppression list."""
    try:
        actions.erase_subscriber(_get(public_id), source=request.auth.source)
    except actions.ErasureNotFlushed as exc:  # never a 204 while an older copy is still on disk
        raise HttpError(503, str(exc)) from None
    return Status(204, None)


@router.get("/subscribers/{public_id}/proof", summary="Proof of consent of a subscriber", auth=READ)
def subscriber_proof(request, public_id: str):
    """The JSON of `rundbrief consent proof ADDRESS` (GDPR Art. 7(1))."""
    return proof_for_address(_get(public_id).email)


@router.post("/proof", response={200: dict, 422: Problem}, summary="Proof of consent of any address", auth=READ)
def address_proof(request, payload: AddressIn):
    """Also for addresses that were erased: their ledger history is kept under the keyed hash."""
    return Status(200, proof_for_address(_address(payload.email)))
