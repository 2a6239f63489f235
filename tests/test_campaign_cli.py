import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.campaigns.models import Campaign

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("campaign", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def body_file(tmp_path):
    path = tmp_path / "april.md"
    path.write_text("## Gold\n\nDer Goldpreis steigt.\n", encoding="utf-8")
    return path


def test_create_from_markdown_file_prints_only_the_new_id(topics, body_file):
    code, out, err = run(
        "create",
        "--subject",
        "Goldpreis im April",
        "--topics",
        "finanznachrichten,sonderangebote",
        "--body-file",
        str(body_file),
        "--preheader",
        "Kurz gesagt",
    )
    assert code == 0 and err == ""
    campaign = Campaign.objects.get()
    assert out == f"{campaign.pk}\n"
    assert campaign.state == "draft" and campaign.body_format == "markdown"
    assert campaign.name == "Goldpreis im April" and campaign.preheader == "Kurz gesagt"
    assert campaign.body.startswith("## Gold")
    assert {t.slug for t in campaign.topics.all()} == {"finanznachrichten", "sonderangebote"}


def test_create_digest_needs_no_body_file(topics):
    code, out, _err = run(
        "create", "--subject", "Wochenrückblick", "--topics", "finanznachrichten", "--digest", "--name", "KW 15"
    )
    campaign = Campaign.objects.get(pk=int(out))
    assert code == 0 and campaign.body_format == "digest" and campaign.name == "KW 15"


def test_create_with_html_flag_stores_an_html_body(topics, tmp_path):
    page = tmp_path / "angebot.html"
    page.write_text("<p>Angebot</p>", encoding="utf-8")
    code, out, _err = run(
        "create", "--subject", "Angebot", "--topics", "sonderangebote", "--body-file", str(page), "--html"
    )
    assert code == 0 and Campaign.objects.get(pk=int(out)).body_format == "html"


def test_create_with_unknown_topic_fails_with_one_line_and_creates_nothing(topics, body_file):
    code, out, err = run(
        "create", "--subject", "S", "--topics", "finanznachrichten,gibtsnicht", "--body-file", str(body_file)
    )
    assert code == 1 and out == ""
    assert err.strip() == "unknown topic: gibtsnicht"
    assert not Campaign.objects.exists()


def test_create_with_missing_body_file_fails(topics, tmp_path):
    code, _out, err = run(
        "create", "--subject", "S", "--topics", "finanznachrichten", "--body-file", str(tmp_path / "nope.md")
    )
    assert code == 1 and err.strip() == f"{tmp_path / 'nope.md'}: no such file"


def test_create_with_body_file_that_is_not_utf8_fails(topics, tmp_path):
    latin1 = tmp_path / "latin1.md"
    latin1.write_bytes("Größe".encode("latin-1"))
    code, _out, err = run("create", "--subject", "S", "--topics", "finanznachrichten", "--body-file", str(latin1))
    assert code == 1 and "not UTF-8" in err and len(err.strip().splitlines()) == 1
    assert not Campaign.objects.exists()


def test_create_ignores_a_byte_order_mark_at_the_start_of_the_body_file(topics, tmp_path):
    bom = tmp_path / "bom.md"
    bom.write_bytes("\ufeff## Gold".encode("utf-8"))
    _code, out, _err = run("create", "--subject", "S", "--topics", "finanznachrichten", "--body-file", str(bom))
    assert Campaign.objects.get(pk=int(out)).body == "## Gold"


def test_create_rejects_a_subject_with_a_line_break(topics, body_file):
    code, _out, err = run(
        "create",
        "--subject",
        "Hallo\r\nBcc: alle@example.org",
        "--topics",
        "finanznachrichten",
        "--body-file",
        str(body_file),
    )
    assert code == 1 and err.strip() == "the subject must be a single line"


def test_create_rejects_a_subject_over_200_characters(topics, body_file):
    code, _out, err = run(
        "create", "--subject", "x" * 201, "--topics", "finanznachrichten", "--body-file", str(body_file)
    )
    assert code == 1 and "at most 200" in err


def test_create_rejects_an_empty_body_file(topics, tmp_path):
    empty = tmp_path / "empty.md"
    empty.write_text("  \n", encoding="utf-8")
    code, _out, err = run("create", "--subject", "S", "--topics", "finanznachrichten", "--body-file", str(empty))
    assert code == 1 and err.strip() == "the body is empty"


def test_status_of_an_unknown_id_fails_with_one_line():
    code, out, err = run("status", "4711")
    assert code == 1 and out == "" and err.strip() == "no campaign with id 4711"


def test_send_of_an_id_that_is_not_a_number_fails_with_one_line():
    code, _out, err = run("send", "abc")
    assert code == 1 and err.strip() == "no campaign with id abc"


@pytest.fixture
def readers(topics):
    for address in ["anna@example.org", "ben@example.org"]:
        reader = Subscriber.objects.create(email=address, status="confirmed", confirmed_at=timezone.now())
        Subscription.objects.create(subscriber=reader, topic=topics["finanznachrichten"])


def test_send_schedules_the_draft_now_for_its_confirmed_readers(topics, readers, body_file):
    _code, campaign_id, _err = run(
        "create", "--subject", "S", "--topics", "finanznachrichten", "--body-file", str(body_file)
    )
    code, out, err = run("send", campaign_id.strip())
    campaign = Campaign.objects.get()
    assert code == 0 and err == ""
    assert out == f"campaign {campaign.pk} scheduled: 2 recipients\n"
    assert campaign.state == "scheduled" and "Der Goldpreis steigt." in campaign.frozen_text


def test_send_twice_fails_because_only_a_draft_can_be_sent(topics, readers, body_file):
    _code, campaign_id, _err = run(
        "create", "--subject", "S", "--topics", "finanznachrichten", "--body-file", str(body_file)
    )
    run("send", campaign_id.strip())
    code, _out, err = run("send", campaign_id.strip())
    assert code == 1 and err.strip() == f"campaign {campaign_id.strip()} is scheduled; only a draft can be sent"


def test_send_of_an_empty_digest_warns_on_stderr_and_still_schedules(topics, readers):
    _code, campaign_id, _err = run("create", "--subject", "Rückblick", "--topics", "finanznachrichten", "--digest")
    code, _out, err = run("send", campaign_id.strip())
    assert code == 0 and err == "warning: no new articles\n"


def test_status_json_reports_state_and_delivery_counts(topics, readers, body_file):
    _code, campaign_id, _err = run(
        "create", "--subject", "S", "--topics", "finanznachrichten", "--body-file", str(body_file)
    )
    run("send", campaign_id.strip())
    code, out, _err = run("status", campaign_id.strip(), "--json")
    report = json.loads(out)
    assert code == 0 and report["id"] == int(campaign_id) and report["state"] == "scheduled"
    assert report["total"] == 2 and report["queued"] == 2 and report["sent"] == 0
    for key in ["sending", "failed", "skipped_withdrawn", "skipped_suppressed", "bounced", "rate_per_minute"]:
        assert report[key] == 0, key


def test_status_without_json_prints_one_line_per_figure(topics, body_file):
    _code, campaign_id, _err = run(
        "create", "--subject", "S", "--topics", "finanznachrichten", "--body-file", str(body_file)
    )
    code, out, _err = run("status", campaign_id.strip())
    assert code == 0 and "state: draft\n" in out and "total: 0\n" in out
