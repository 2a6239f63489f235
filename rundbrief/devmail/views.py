import re
from email import message_from_bytes
from email.policy import default as default_policy
from functools import wraps

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render

from rundbrief.devmail.capture import list_messages

MESSAGE_ID = re.compile(r"^[0-9]{20}-[0-9a-f]{8}$")


def devmail_only(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.DEVMAIL_ENABLED:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


@devmail_only
def outbox(request):
    return render(request, "devmail/outbox.html", {"messages_": list_messages(settings.DEVMAIL_DIR)})


def _load(message_id):
    if not MESSAGE_ID.match(message_id):
        raise Http404
    try:
        raw = (settings.DEVMAIL_DIR / f"{message_id}.eml").read_bytes()
    except FileNotFoundError:
        raise Http404 from None
    return raw, message_from_bytes(raw, policy=default_policy)


@devmail_only
def message(request, message_id):
    raw, msg = _load(message_id)
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    context = {
        "id": message_id,
        "msg": msg,
        "text": text.get_content() if text else "",
        "has_html": html is not None,
        "raw": raw.decode("utf-8", "replace"),
    }
    return render(request, "devmail/message.html", context)


@devmail_only
def message_html(request, message_id):
    _raw, msg = _load(message_id)
    html = msg.get_body(preferencelist=("html",))
    if html is None:
        raise Http404
    response = HttpResponse(html.get_content(), content_type="text/html; charset=utf-8")
    # Shown in a sandboxed iframe; the mail's HTML gets no script and no same-origin access.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'"
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response
