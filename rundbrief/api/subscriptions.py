"""POST /api/v1/subscriptions: the sign-up form's double opt-in for other programs (e.g. a shop's checkout).

Same action, same limits, same neutral answer as the form (docs/decisions.md, "Sign-up outcomes look alike"): a 202 for a
new, pending, confirmed or suppressed address alike, so the API does not reveal
who is subscribed.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InternalError, OperationalError, connection, transaction
from django.utils import translation
from ninja import Router, Status
from ninja.errors import HttpError

from rundbrief.api.auth import optional_token
from rundbrief.api.schemas import Accepted, Problem, SubscriptionIn
from rundbrief.audience import actions, ratelimit
from rundbrief.audience.clientip import client_ip
from rundbrief.audience.models import ConsentText
from rundbrief.logs import get_logger
from rundbrief.newsroom.models import Topic

log = get_logger("rundbrief.api.subscriptions")

router = Router(tags=["sign-up"])
NEUTRAL = "If the address can receive our newsletter, a request to confirm the subscription has been sent to it."


def shown_consent_text(language, version):
    """The consent text a sign-up says was shown (an instance carrying only its key, language and
    version), or None. One indexed look-up in plain SQL: it runs for every request, and the ORM's
    compiler took longer than the query."""
    table = connection.ops.quote_name(ConsentText._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE language = %s AND version = %s", [language, version])
        row = cursor.fetchone()
    return ConsentText(pk=row[0], language=language, version=version) if row else None


def unknown_topics(slugs):
    if not slugs:  # the usual case: every topic of the consent text; no query
        return []
    # Only plausible slugs reach the database: PostgreSQL refuses strings with NUL in a query (a 500).
    plausible = [slug for slug in slugs if len(slug) <= 50 and slug.isprintable()]
    return sorted(set(slugs) - set(Topic.objects.filter(slug__in=plausible).values_list("slug", flat=True)))


@router.post("", response={202: Accepted, 422: Problem, 429: Problem, 503: Problem}, summary="Request a subscription")
def create_subscription(request, payload: SubscriptionIn):
    problem, checked = _check_input(request, payload)  # reads only, before the write lock
    # One write transaction per sign-up: the two rate-limit counters commit together with the
    # request and its ledger event, instead of as writes of their own (docs/benchmarks.md). A
    # refused request still counts, so the problem is raised only after the counters committed.
    try:
        with transaction.atomic():
            if not ratelimit.signup_allowed(client_ip(request)):
                problem = (429, "too many requests; try again in a minute")
            elif problem is None:
                actions.receive_subscription_request(checked)  # applied and mailed after the commit
    except (OperationalError, InternalError):  # read-only, disk full, locked too long: as the form (audience/views.py)
        log.error("sign-up not stored: the database refused the write", exc_info=True)
        problem = (503, "the request could not be stored just now; nothing was saved; try again later")
    if problem:
        raise HttpError(*problem)
    return Status(202, {"detail": NEUTRAL})


def _check_input(request, payload):
    """(status, message) if the input is refused, else (None, the checked request)."""
    language = payload.language or settings.LANGUAGE_CODE
    if language not in dict(settings.LANGUAGES):
        return (422, f"language: expected one of {', '.join(dict(settings.LANGUAGES))}"), None
    consent_text = shown_consent_text(language, payload.consent_text_version)
    if consent_text is None:
        return (422, f"consent_text_version: no consent text {payload.consent_text_version} in {language!r}"), None
    if missing := unknown_topics(payload.topics):
        return (422, f"topics: unknown topic(s) {', '.join(repr(s[:40]) for s in missing[:5])}"), None
    token = optional_token(request)
    try:
        return None, actions.prepare_subscription_request(
            payload.email,
            consent_text=consent_text,
            topics=payload.topics,
            source=token.source if token else "api:public",
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            language=language,
        )
    except ValidationError as exc:
        with translation.override("en"):  # API messages are English, like the schema they belong to
            return (422, f"email: {exc.messages[0]}"), None
