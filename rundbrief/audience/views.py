"""Sign-up, confirmation, one-click unsubscribe, preference centre and data-export download.

Thin: parse the request, call an action, answer. Every state change is in actions.py.
"""

import json

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from rundbrief.audience import actions, queries, ratelimit, tokens
from rundbrief.audience.clientip import client_ip
from rundbrief.audience.forms import PreferencesForm, SignupForm
from rundbrief.audience.models import ConsentText, Subscriber


def _client(request):
    return {"ip": client_ip(request), "user_agent": request.META.get("HTTP_USER_AGENT", "")}


def _invalid_link(request):
    return render(request, "audience/invalid_link.html", status=404)


def _subscriber(purpose, token):
    public_id, _nonce = tokens.read_token(purpose, token)
    subscriber = Subscriber.objects.filter(public_id=public_id).first()
    if subscriber is None:
        raise tokens.InvalidToken
    return subscriber


def _check_your_mail(request):
    # One answer for new, pending, confirmed, suppressed and honeypot: the form must not
    # reveal who is subscribed (docs/decisions.md, "Sign-up outcomes look alike").
    # Same template, same status, no per-address data.
    return render(request, "audience/check_your_mail.html")


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
    with transaction.atomic():
        allowed = ratelimit.signup_allowed(client_ip(request))
        if allowed and checked is not None:
            actions.receive_subscription_request(checked)  # applied and mailed after the commit
    if not allowed:
        response = render(request, "audience/too_many_requests.html", status=429)
        response["Retry-After"] = "60"
        return response
    if valid or form.is_bot:
        return _check_your_mail(request)
    context = {"form": form, "consent_text": ConsentText.current(language)}
    return render(request, "audience/signup.html", context, status=400)


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
        return _invalid_link(request)
    prefs = tokens.make_token(tokens.PREFERENCES, subscriber.public_id)
    return render(request, "audience/confirmed.html", {"preferences_token": prefs})


@csrf_exempt  # RFC 8058 §3.1: the one-click POST comes from the mailbox provider, without cookies or CSRF token
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    try:
        subscriber = _subscriber(tokens.UNSUBSCRIBE, token)
    except tokens.InvalidToken:
        return _invalid_link(request)
    if request.method == "GET":
        return render(request, "audience/unsubscribe.html", {"token": token})
    # RFC 8058 §3.1: the body is "List-Unsubscribe=One-Click", urlencoded or multipart.
    if request.POST.get("List-Unsubscribe") != "One-Click":
        return render(request, "audience/unsubscribe.html", {"token": token}, status=400)
    actions.withdraw_consent(subscriber, source="web:one-click-unsubscribe", **_client(request))
    # 200, never a redirect (RFC 8058 §3.1 senders must not rely on redirects being followed).
    return render(request, "audience/unsubscribed.html")


@never_cache
@require_http_methods(["GET", "POST"])
def preferences(request, token):
    try:
        subscriber = _subscriber(tokens.PREFERENCES, token)
    except tokens.InvalidToken:
        return _invalid_link(request)
    message = ""
    form = PreferencesForm(initial={"topics": list(subscriber.subscriptions.values_list("topic__slug", flat=True))})
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "withdraw":
            actions.withdraw_consent(subscriber, source="web:preference-centre", **_client(request))
            message = _("You will receive no more newsletters. Your consent is withdrawn.")
        elif action == "export":
            actions.request_export(subscriber)
            message = _("We have sent a download link for your data to your e-mail address.")
        else:
            form = PreferencesForm(request.POST)
            if form.is_valid():
                actions.update_preferences(
                    subscriber, topics=form.cleaned_data["topics"], source="web:preference-centre", **_client(request)
                )
                message = _("Your choice has been saved.")
        subscriber.refresh_from_db()
    context = {"form": form, "subscriber": subscriber, "message": message}
    return render(request, "audience/preferences.html", context)


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
