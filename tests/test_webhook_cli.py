"""`rundbrief webhook add | list | remove | test`: the secret printed once, bad input one line and exit 1."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from rundbrief.webhooks.models import Endpoint, WebhookMessage
from tests.support.ports import free_port
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("webhook", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


def test_add_prints_the_secret_once_and_list_shows_it_nowhere():
    code, out, err = run(
        "add", "https://shop.example.com/hooks", "--events", "subscription.withdrawn,subscriber.erased"
    )
    assert code == 0
    secret = out.strip()
    assert secret.startswith("whsec_") and secret == Endpoint.objects.get().secret
    assert "not shown again" in err
    run("add", "http://192.168.1.20:8080/crm")  # a LAN address is allowed; no --events: all of them
    code, out, _err = run("list")
    assert code == 0 and secret not in out
    lines = out.splitlines()
    assert lines[0].split("\t") == [
        "1",
        "active",
        "subscriber.erased,subscription.withdrawn",
        "https://shop.example.com/hooks",
    ]
    assert lines[1].split("\t")[2:] == ["*", "http://192.168.1.20:8080/crm"]
    code, out, _err = run("list", "--json")
    listed = json.loads(out)
    assert [e["url"] for e in listed] == ["https://shop.example.com/hooks", "http://192.168.1.20:8080/crm"]
    assert listed[1]["events"] == ["*"] and secret not in out


@pytest.mark.parametrize(
    "args, message",
    [
        # The action's message is in the site's language, German by default.
        (["add", "ftp://shop.example.com/hooks"], "http:// oder https://"),
        (["add", "https:///nohost"], "http:// oder https://"),
        (["add", "https://shop.example.com/hooks", "--events", "subscription.deleted"], "subscription.deleted"),
        (["remove", "7"], "no webhook endpoint with ID 7"),
        (["remove", "seven"], "ID must be a number"),
        (["test", "7"], "no webhook endpoint with ID 7"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(args, message):
    code, out, err = run(*args)
    assert code == 1 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
    assert not Endpoint.objects.exists()


def test_remove_deletes_the_endpoint_with_its_messages():
    run("add", "https://shop.example.com/hooks")
    endpoint = Endpoint.objects.get()
    with Receiver() as receiver:
        Endpoint.objects.filter(pk=endpoint.pk).update(url=receiver.url)
        run("test", str(endpoint.pk))
    assert WebhookMessage.objects.count() == 1
    code, out, _err = run("remove", str(endpoint.pk))
    assert code == 0 and out.strip() == f"removed: {endpoint.pk}"
    assert not Endpoint.objects.exists() and not WebhookMessage.objects.exists()


def test_test_sends_a_signed_test_event_and_prints_the_status():
    with Receiver(answers=[204, 500]) as receiver:
        run("add", receiver.url, "--events", "campaign.finished")  # the test event goes whatever it subscribed to
        endpoint = Endpoint.objects.get()
        code, out, _err = run("test", str(endpoint.pk))
        assert code == 0 and out.strip() == "204"
        assert receiver.requests[0].verified(endpoint.secret)["type"] == "webhook.test"
        code, out, err = run("test", str(endpoint.pk))
        assert code == 1 and "HTTP 500" in err
    Endpoint.objects.filter(pk=endpoint.pk).update(url=f"http://127.0.0.1:{free_port()}/")
    code, _out, err = run("test", str(endpoint.pk))
    assert code == 1 and "Connection" in err and len(err.strip().splitlines()) == 1


def test_test_reaches_a_switched_off_endpoint():
    """To try a repaired receiver before switching its endpoint on again."""
    with Receiver() as receiver:
        run("add", receiver.url)
        Endpoint.objects.update(active=False, disabled_reason="failing")
        code, out, _err = run("test", str(Endpoint.objects.get().pk))
        assert code == 0 and out.strip() == "200" and len(receiver.requests) == 1
    assert not Endpoint.objects.get().active  # a test does not switch it on
