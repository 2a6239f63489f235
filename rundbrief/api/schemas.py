"""Request and response bodies of the HTTP API (published in /api/v1/openapi.json)."""

from datetime import datetime

from ninja import Field, Schema


class SubscriptionIn(Schema):
    email: str = Field(..., max_length=1000, description="The address; checked as the sign-up form checks it.")
    topics: list[str] = Field(
        default_factory=list, max_length=50, description="Topic slugs; empty: every topic named in the consent text."
    )
    consent_text_version: int = Field(
        ..., ge=1, le=2**31 - 1, description="Version of the consent text the person was shown."
    )
    language: str | None = Field(None, max_length=10, description="`de` or `en`; default: LANGUAGE_CODE.")


class Accepted(Schema):
    status: str = "accepted"
    detail: str


class Problem(Schema):
    detail: str


class SubscriberOut(Schema):
    id: str = Field(..., description="The subscriber's opaque public id (never the address).")
    email: str
    status: str
    language: str
    topics: list[str]
    requested_at: datetime
    confirmed_at: datetime | None
    withdrawn_at: datetime | None


class SubscriberPage(Schema):
    count: int
    page: int
    per_page: int
    items: list[SubscriberOut]


class TopicsIn(Schema):
    topics: list[str] = Field(..., max_length=50, description="Topic slugs; an empty list withdraws consent.")


class AddressIn(Schema):
    email: str = Field(..., max_length=1000)
