"""The embedded SMTP capture stores mail sent over real SMTP; the outbox page shows it with debug on."""

import smtplib
from email.message import EmailMessage

import pytest

from rundbrief.devmail.capture import list_messages, start_capture
from tests.support.ports import free_port


@pytest.fixture
def capture(tmp_path, settings):
    port = free_port()
    controller = start_capture("127.0.0.1", port, tmp_path)
    settings.DEVMAIL_DIR = tmp_path
    settings.DEVMAIL_ENABLED = True
    yield port
    controller.stop()


def send(port, subject="Bitte bestätigen", html="<p>Hallo <b>Welt</b></p>"):
    msg = EmailMessage()
    msg["From"] = "newsletter@musterhaus.example"
    msg["To"] = "leserin@example.org"
    msg["Subject"] = subject
    msg.set_content("Hallo Welt")
    msg.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.send_message(msg)


def test_capture_stores_each_message_received_over_smtp(capture, tmp_path):
    send(capture, "Erste")
    send(capture, "Zweite")
    messages = list_messages(tmp_path)
    assert [headers["Subject"] for _id, headers in messages] == ["Zweite", "Erste"]
    assert messages[0][1]["X-Devmail-Rcpt"] == "leserin@example.org"


@pytest.mark.django_db
def test_outbox_lists_messages_and_shows_text_and_html(client, capture, tmp_path):
    send(capture, "Willkommen")
    html = client.get("/dev/outbox/").content.decode()
    assert "Willkommen" in html and "leserin@example.org" in html
    message_id = list_messages(tmp_path)[0][0]
    detail = client.get(f"/dev/outbox/{message_id}/").content.decode()
    assert "Hallo Welt" in detail
    body = client.get(f"/dev/outbox/{message_id}/html/")
    assert b"<b>Welt</b>" in body.content
    assert body["Content-Security-Policy"].startswith("sandbox")


@pytest.mark.django_db
@pytest.mark.parametrize("bad_id", ["../../etc/passwd", "x", "00000000000000000000-zzzzzzzz", "%2e%2e"])
def test_outbox_refuses_ids_that_are_not_captured_messages(client, capture, bad_id):
    assert client.get(f"/dev/outbox/{bad_id}/").status_code == 404


@pytest.mark.django_db
def test_outbox_is_a_404_when_devmail_is_disabled(client, settings):
    settings.DEVMAIL_ENABLED = False
    assert client.get("/dev/outbox/").status_code == 404
