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
    attributes: dict = Field(default_factory=dict, description="Custom fields by key (see /api/v1/attributes).")


class SubscriberPage(Schema):
    count: int
    page: int
    per_page: int
    items: list[SubscriberOut]


class TopicsIn(Schema):
    topics: list[str] = Field(..., max_length=50, description="Topic slugs; an empty list withdraws consent.")


class AddressIn(Schema):
    email: str = Field(..., max_length=1000)


class AttributeDefinitionIn(Schema):
    key: str = Field(..., max_length=40, description="Lower-case letters, digits, underscores; starts with a letter.")
    label: str = Field(..., max_length=100, description="The German label.")
    label_en: str = Field("", max_length=100, description="The English label; empty: the German one.")
    type: str = Field(..., description="text, number, date, boolean or choice.")
    choices: list[str] = Field(default_factory=list, max_length=200, description="For choice: the allowed values.")


class AttributeDefinitionOut(Schema):
    key: str
    label: str
    label_en: str
    type: str
    choices: list[str]


class AttributesIn(Schema):
    attributes: dict = Field(
        ...,
        description='key: value for the keys to set; null or "" removes a value; keys not named stay as they are.',
    )


class AttributesOut(Schema):
    attributes: dict


class RuleIn(Schema):
    field: str = Field(..., description="language, topic, confirmed_at, source, soft_bounces or attribute.")
    attribute: str | None = Field(None, description="The attribute's key, for field `attribute`.")
    operator: str
    value: str = Field("", max_length=200)


class SegmentIn(Schema):
    name: str = Field(..., max_length=200)
    match: str = Field("all", description="all: every rule must hold; any: at least one.")
    rules: list[RuleIn] = Field(default_factory=list, max_length=50)


class SegmentOut(Schema):
    id: int
    name: str
    match: str
    rules: list[RuleIn]


class SegmentCount(Schema):
    id: int
    count: int = Field(..., description="Confirmed subscribers in the segment right now (topics aside).")
