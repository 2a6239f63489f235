"""Sign-up, confirmation, one-click unsubscribe, preference centre and data-export download.

Thin: parse the request, call an action, answer. Every state change is in actions.py.
"""

import json

from django.conf import settings
from django.db import InternalError, OperationalError, transaction
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from rundbrief.audience import actions, proofofwork, queries, ratelimit, tokens
from rundbrief.audience.clientip import client_ip
from rundbrief.audience.forms import PreferencesForm, ResubscribeForm, SignupForm
from rundbrief.audience.models import ConsentText, Subscriber
from rundbrief.logs import get_logger
from rundbrief.newsroom.views import service_unavailable

log = get_logger("rundbrief.audience.views")
# A database that cannot write: SQLite read-only or out of disk, a lock held too long (OperationalError);
# PostgreSQL in a read-only transaction or on a standby (InternalError, SQLSTATE 25006).
DATABASE_UNWRITABLE = (OperationalError, InternalError)

# The reader-facing pages that may carry the newsletter box: a sign-up with errors is answered with
# the page she came from, the box showing what she typed and what is wrong (docs/decisions.md,
# "Forms keep the reader"). Any other page, or one that does not show the box, gets the sign-up page.
PAGES_WITH_THE_BOX = {"newsroom:article", "newsroom:home", "newsroom:topic"}
ERROR_SUMMARY_ID = b'id="signup-errors"'
# What the preference centre says after a redirect (?done=…): keys only, never data, in the URL.
DONE_MESSAGES = {
    "saved": gettext_lazy("Your choice is saved."),
    "withdrawn": gettext_lazy("You are unsubscribed. Your consent is withdrawn; you will receive no more newsletters."),
    "export": gettext_lazy("We have sent a download link for your data to your e-mail address."),
    "export-held": gettext_lazy(
        "No new download link was sent: we send at most a few an hour, and none to an address our mail "
        "cannot reach. Please look for the link we sent before."
    ),
    "requested": gettext_lazy(
        "Please confirm: we have sent a confirmation link to your address. "
        "Your subscription starts when you confirm it."
    ),
}
# What the page of an expired preference link says after its button was pressed.
FRESH_LINK_MESSAGES = {
    "sent": gettext_lazy("We have sent a new link to your e-mail address. Please use the link in that e-mail."),
    "held": gettext_lazy(
        "No new link was sent: we send at most a few an hour, and none to an address our mail cannot reach. "
        "Please look for the link we sent before."
    ),
}


def _client(request):
    return {"ip": client_ip(request), "user_agent": request.META.get("HTTP_USER_AGENT", "")}


def _invalid_link(request):
    return render(request, "audience/invalid_link.html", status=404)


def _subscriber(purpose, token, *, expired_ok=False):
    public_id, _nonce = tokens.read_token(purpose, token, expired_ok=expired_ok)
    subscriber = Subscriber.objects.filter(public_id=public_id).first()
    if subscriber is None:
        raise tokens.InvalidToken
    return subscriber


def _form_page(form):
    """Where the box stood, as the form cleaned it (a path on this site, or "")."""
    return getattr(form, "cleaned_data", {}).get("page", "")


def _check_your_mail(request, form):
    # One answer for new, pending, confirmed, suppressed and honeypot: the form must not
    # reveal who is subscribed (docs/decisions.md, "Sign-up outcomes look alike").
    # Same template, same status, no per-address data; the way back depends on the form alone.
    return render(request, "audience/check_your_mail.html", {"back": _form_page(form)})


def _page_with_the_box(request, page):
    """The page at `page` rendered with the bound sign-up form in its box, or None."""
    try:
        match = resolve(page)
    except Resolver404:
        return None
    if match.view_name not in PAGES_WITH_THE_BOX:
        return None
    try:
        response = match.func(request, *match.args, **match.kwargs)
    except Http404:  # unpublished since the reader loaded it
        return None
    if response.status_code != 200 or ERROR_SUMMARY_ID not in response.content:
        return None
    return response


def _signup_errors(request, form, status):
    """The form again with its errors and the input kept, on the page the reader came from if it can."""
    request.signup_form = form  # the newsletter box's include reads it (newsroom/_newsletter_box.html)
    response = _page_with_the_box(request, _form_page(form))
    if response is None:
        consent_text = ConsentText.current(translation.get_language())
        context = {"form": form, "consent_text": consent_text, "back": _form_page(form)}
        response = render(request, "audience/signup.html", context)
    response.status_code = status
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def signup(request):
    language = translation.get_language()
    if request.method == "GET":
        form = SignupForm(initial={"consent_text": getattr(ConsentText.current(language), "pk", None)})
        return render(request, "audience/signup.html", {"form": form, "consent_text": ConsentText.current(language)})
    form = SignupForm(request.POST)
    valid = form.is_valid()
    checked = None
    if valid and not form.is_bot:  # reads only: before the write lock is taken
        data = form.cleaned_data
        checked = actions.prepare_subscription_request(
            data["email"],
            consent_text=data["consent_text"],
            topics=data["topics"],
            source=settings.SITE_URL + (data["page"] or request.path),
            language=language,
            **_client(request),
        )
    # One write transaction per sign-up: the rate-limit counters commit together with the
    # request (docs/benchmarks.md); a refused or invalid request still counts. Pages are
    # rendered after the commit, not while holding the write lock.
    try:
        with transaction.atomic():
            allowed = ratelimit.signup_allowed(client_ip(request))
            # The proof-of-work is spent in the same transaction: a replayed solution signs nobody up.
            if allowed and checked is not None and form.spend_proof_of_work():
                actions.receive_subscription_request(checked)  # applied and mailed after the commit
    except DATABASE_UNWRITABLE:
        log.error("sign-up not stored: the database refused the write", exc_info=True)
        return service_unavailable(request)
    if not allowed:
        form.add_error(None, _("Too many sign-ups from your network just now. Please wait a minute and try again."))
        response = _signup_errors(request, form, status=429)
        response["Retry-After"] = "60"
        return response
    if form.is_bot or (valid and not form.errors):
        return _check_your_mail(request, form)
    return _signup_errors(request, form, status=400)


@never_cache
@require_http_methods(["GET"])
def challenge(request):
    """A fresh proof-of-work challenge for the sign-up form's script; fetched per form, never cached,
    so that no two readers share one (a solution is spent once)."""
    if not settings.RUNDBRIEF_SIGNUP_PROOF_OF_WORK:
        raise Http404
    return JsonResponse(proofofwork.new_challenge())


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request, token):
    """GET only shows a button: mail scanners follow links, and only a person should confirm."""
    try:
        if request.method == "GET":
            queries.pending_subscriber(token)
            return render(request, "audience/confirm.html")
        subscriber = actions.confirm_subscription(token, source="web:confirm-page", **_client(request))
    except tokens.InvalidToken:
        return _used_confirm_link(request, token)
    prefs = tokens.make_token(tokens.PREFERENCES, subscriber.public_id)
    return render(request, "audience/confirmed.html", {"preferences_token": prefs})


def _used_confirm_link(request, token):
    """A genuine link used before answers with the state it led to; a forged one, or one for a
    request still pending (a newer mail replaced it), stays "not valid"."""
    try:
        subscriber = queries.confirmed_or_withdrawn_by_link(token)
    except tokens.InvalidToken:
        subscriber = None
    if subscriber is None:
        return _invalid_link(request)
    prefs = tokens.make_token(tokens.PREFERENCES, subscriber.public_id)
    return render(request, "audience/already_confirmed.html", {"subscriber": subscriber, "preferences_token": prefs})


@csrf_exempt  # RFC 8058 §3.1: the one-click POST comes from the mailbox provider, without cookies or CSRF token
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    try:
        subscriber = _subscriber(tokens.UNSUBSCRIBE, token)
    except tokens.InvalidToken:
        return _invalid_link(request)
    unsubscribed = {"preferences_token": tokens.make_token(tokens.PREFERENCES, subscriber.public_id)}
    if request.method == "GET":
        if subscriber.status == Subscriber.Status.WITHDRAWN:  # the link used before: say so, no button again
            return render(request, "audience/unsubscribed.html", unsubscribed)
        return render(request, "audience/unsubscribe.html", {"token": token})
    # RFC 8058 §3.1: the body is "List-Unsubscribe=One-Click", urlencoded or multipart.
    if request.POST.get("List-Unsubscribe") != "One-Click":
        return render(request, "audience/unsubscribe.html", {"token": token}, status=400)
    actions.withdraw_consent(subscriber, source="web:one-click-unsubscribe", **_client(request))
    # 200, never a redirect (RFC 8058 §3.1 senders must not rely on redirects being followed).
    return render(request, "audience/unsubscribed.html", unsubscribed)


def _preference_page(request, subscriber, *, form=None, resubscribe=None, message="", status=200):
    """The preference centre as the database has it now (read here, never what was posted)."""
    topics = list(subscriber.subscriptions.values_list("topic__slug", flat=True))
    language = translation.get_language()
    context = {
        "subscriber": subscriber,
        "withdrawn": subscriber.status == Subscriber.Status.WITHDRAWN,
        "form": form or PreferencesForm(initial={"topics": topics}),
        "resubscribe": resubscribe or ResubscribeForm(initial={"topics": topics}),
        "consent_text": ConsentText.current(language) or ConsentText.current("de"),
        "message": message or DONE_MESSAGES.get(request.GET.get("done", ""), ""),
    }
    return render(request, "audience/preferences.html", context, status=status)


def _done(request, key):
    """Post/redirect/get: a reload shows the state again instead of repeating the POST."""
    response = HttpResponseRedirect(f"{request.path}?done={key}")
    response.status_code = 303  # RFC 9110 §15.4.4: the answer to a POST, fetched with GET
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def preferences(request, token):
    try:
        subscriber = _subscriber(tokens.PREFERENCES, token)
    except tokens.InvalidToken:
        return _expired_preference_link(request, token)
    if request.method == "GET":
        return _preference_page(request, subscriber)
    action = request.POST.get("action")
    if action == "withdraw":
        actions.withdraw_consent(subscriber, source="web:preference-centre", **_client(request))
        return _done(request, "withdrawn")
    if action == "export":
        return _done(request, "export" if actions.request_export(subscriber) else "export-held")
    if action == "resubscribe":
        return _resubscribe(request, subscriber)
    form = PreferencesForm(request.POST)
    if not form.is_valid():
        return _preference_page(request, subscriber, form=form, status=400)
    chosen = form.cleaned_data["topics"]
    if subscriber.status == Subscriber.Status.WITHDRAWN:
        # Saving topics would not bring the newsletter back: consent needs a fresh double opt-in
        # (UWG §7(2) Nr. 2), so she is offered one with her choice kept, and nothing is stored.
        message = _(
            "You are unsubscribed, so your choice was not saved. To receive the newsletter again, subscribe anew."
        )
        resubscribe = ResubscribeForm(initial={"topics": chosen})
        return _preference_page(request, subscriber, resubscribe=resubscribe, message=message)
    if not chosen:
        # No topic left means no newsletter: that is a withdrawal of consent, and she is asked first.
        return render(request, "audience/preferences_withdraw.html", {"subscriber": subscriber})
    actions.update_preferences(subscriber, topics=chosen, source="web:preference-centre", **_client(request))
    return _done(request, "saved")


def _expired_preference_link(request, token):
    """A genuine preference link past RUNDBRIEF_PREFERENCE_LINK_DAYS shows nothing of the subscriber;
    it offers to mail a fresh link to her address, which only its owner can open. Anything else
    is not a valid link."""
    try:
        subscriber = _subscriber(tokens.PREFERENCES, token, expired_ok=True)
    except tokens.InvalidToken:
        return _invalid_link(request)
    if request.method == "POST":
        return _done(request, "sent" if actions.request_preferences_link(subscriber) else "held")
    message = FRESH_LINK_MESSAGES.get(request.GET.get("done", ""), "")
    context = {"days": settings.RUNDBRIEF_PREFERENCE_LINK_DAYS, "message": message}
    return render(request, "audience/preferences_expired.html", context, status=410)


def _resubscribe(request, subscriber):
    """A withdrawn reader signs up again: the normal sign-up (rate limit, intake, a new confirmation
    mail), with her address taken from the link instead of typed."""
    if subscriber.status != Subscriber.Status.WITHDRAWN:  # a second tab, or a request already sent
        return _preference_page(request, subscriber)
    form = ResubscribeForm(request.POST)
    valid = form.is_valid()
    checked = None
    if valid:
        checked = actions.prepare_subscription_request(
            subscriber.email,
            consent_text=form.cleaned_data["consent_text"],
            topics=form.cleaned_data["topics"],
            source="web:preference-centre",  # not the page's URL: it holds the reader's token
            language=translation.get_language(),
            **_client(request),
        )
    try:
        with transaction.atomic():
            allowed = ratelimit.signup_allowed(client_ip(request))
            if allowed and checked is not None:
                actions.receive_subscription_request(checked)
    except DATABASE_UNWRITABLE:
        log.error("re-subscription not stored: the database refused the write", exc_info=True)
        return service_unavailable(request)
    if not allowed:
        message = _("Too many sign-ups from your network just now. Please wait a minute and try again.")
        return _preference_page(request, subscriber, resubscribe=form, message=message, status=429)
    if not valid:
        return _preference_page(request, subscriber, resubscribe=form, status=400)
    return _done(request, "requested")


@never_cache
@require_http_methods(["GET"])
def export_download(request, token):
    """GDPR Art. 15 and 20: the data, machine-readable, behind a link mailed to the address itself."""
    try:
        subscriber = _subscriber(tokens.EXPORT, token)
    except tokens.InvalidToken:
        return _invalid_link(request)
    body = json.dumps(queries.export_subscriber(subscriber), indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="newsletter-data.json"'
    return response
