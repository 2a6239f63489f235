"""Shared fixtures for the audience tests: a real SMTP server (aiosmtpd) and sign-up helpers."""

import email
import re
import threading
from email import policy

import pytest
from aiosmtpd.controller import Controller

from rundbrief.audience.models import ConsentText
from tests.conftest import free_port

LINK = re.compile(r"https?://[^\s\"<>]+")


class Inbox:
    """Collects what arrives over SMTP. smtplib returns only after our 250 reply, so no waiting is needed."""

    def __init__(self):
        self.messages = []
        self.envelopes = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)
            self.envelopes.append(envelope)
        return "250 Message accepted"

    def links(self, message, part="plain"):
        return LINK.findall(message.get_body(preferencelist=(part,)).get_content())


@pytest.fixture
def smtp_inbox(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.SMTP_URL = f"smtp://127.0.0.1:{controller.port}"  # service mail's transport
    settings.SITE_URL = "http://news.musterhaus.example"
    settings.ALLOWED_HOSTS = ["testserver", "news.musterhaus.example"]
    yield inbox
    controller.stop()


@pytest.fixture
def sign_up(client, django_capture_on_commit_callbacks):
    """POST the newsletter box as a reader would, running the after-commit mail."""

    def post(address, *, prefix="", language="de", client=client, ip="203.0.113.77", **extra):
        data = {"email": address, "consent_text": ConsentText.current(language).pk, "page": "/artikel/gold-rekord/"}
        data.update(extra)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"{prefix}/newsletter/", data, REMOTE_ADDR=ip, HTTP_USER_AGENT="Mozilla/5.0 (Testbrowser)"
            )

    return post


def path_of(url):
    return re.sub(r"^https?://[^/]+", "", url)
