"""Writing a campaign: `create_campaign()` and the checks shared with the admin's compose form.

State transitions (schedule, pause, resume, cancel) live in actions.py; this
module only creates drafts, so the CLI, the API and the admin create them alike.
"""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from rundbrief.campaigns.models import Campaign
from rundbrief.newsroom.models import Topic

SUBJECT_MAX_LENGTH = 200


class CampaignError(ValueError):
    """A campaign cannot be created or changed as asked; the message says why, in one line."""


def check_header_text(value: str, label: str, max_length: int) -> str:
    """Text that goes into a mail header: no line breaks (header injection, RFC 5322 §2.2), bounded length."""
    if "\r" in value or "\n" in value:
        raise CampaignError(f"{label} must be a single line")
    if len(value) > max_length:
        raise CampaignError(f"{label} is {len(value)} characters long; at most {max_length} are allowed")
    return value


def check_subject(subject: str) -> str:
    subject = (subject or "").strip()
    if not subject:
        raise CampaignError("the subject is empty")
    return check_header_text(subject, "the subject", SUBJECT_MAX_LENGTH)


def check_address(address: str, label: str) -> str:
    try:
        validate_email(address)
    except ValidationError:
        raise CampaignError(f"{label} {address!r} is not a valid e-mail address") from None
    return address


def resolve_topics(topics) -> list[Topic]:
    """Topics given as Topic objects or slugs; every slug must exist, and at least one topic is needed."""
    wanted = [t for t in topics if not isinstance(t, Topic)]
    found = {t.slug: t for t in Topic.objects.filter(slug__in=wanted)}
    unknown = [slug for slug in wanted if slug not in found]
    if unknown:
        raise CampaignError(f"unknown topic: {', '.join(map(str, unknown))}")
    resolved = [t if isinstance(t, Topic) else found[t] for t in topics]
    if not resolved:
        raise CampaignError("choose at least one topic (the audience is their confirmed subscribers)")
    return resolved


def create_campaign(
    *,
    name,
    subject,
    topics,
    body="",
    body_format="markdown",
    preheader="",
    from_name=None,
    from_email=None,
    reply_to="",
    digest_since=None,
    digest_until=None,
    scheduled_at=None,
) -> Campaign:
    """Create a draft campaign after checking everything that would make it unsendable."""
    for label, value in [
        ("the name", name),
        ("the subject", subject),
        ("the preheader", preheader),
        ("the body", body),
    ]:
        # PostgreSQL cannot store NUL in text, and no mail client shows it.
        if value and "\x00" in value:
            raise CampaignError(f"{label} contains a NUL byte")
    subject = check_subject(subject)
    name = check_header_text((name or "").strip() or subject, "the name", 200)
    if body_format not in Campaign.BodyFormat.values:
        raise CampaignError(
            f"unknown body format {body_format!r}: expected one of {', '.join(Campaign.BodyFormat.values)}"
        )
    if body_format != Campaign.BodyFormat.DIGEST and not (body or "").strip():
        raise CampaignError("the body is empty")
    preheader = check_header_text((preheader or "").strip(), "the preheader", 200)
    fields = {}
    if from_name is not None:
        fields["from_name"] = check_header_text(from_name.strip(), "the from name", 100)
    if from_email is not None:
        fields["from_email"] = check_address(from_email.strip(), "the from address")
    if reply_to:
        reply_to = check_address(reply_to.strip(), "the reply-to address")
    resolved = resolve_topics(topics)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name,
            subject=subject,
            preheader=preheader,
            reply_to=reply_to or "",
            body=body or "",
            body_format=body_format,
            digest_since=digest_since,
            digest_until=digest_until,
            scheduled_at=scheduled_at,
            **fields,
        )
        campaign.topics.set(resolved)
    return campaign
