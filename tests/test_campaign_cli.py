import datetime as dt
import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from rundbrief.audience.models import Subscriber, Subscription
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.actions import start_campaign
from rundbrief.delivery.models import Delivery

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


def create(body_file, *extra):
    code, out, err = run(
        "create", "--subject", "S", "--topics", "finanznachrichten", "--body-file", str(body_file), *extra
    )
    assert code == 0, err
    return out.strip()


def test_send_schedules_the_draft_now_and_the_worker_freezes_it_when_it_starts(topics, readers, body_file):
    campaign_id = create(body_file)
    code, out, err = run("send", campaign_id)
    campaign = Campaign.objects.get()
    assert code == 0 and err == ""
    assert re.fullmatch(rf"campaign {campaign_id} scheduled for \S+: 2 recipients now\n", out)
    assert campaign.state == "scheduled" and campaign.frozen_text == ""
    start_campaign(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.state == "sending" and "Der Goldpreis steigt." in campaign.frozen_text


def test_schedule_at_a_time_with_offset_and_status_json_says_scheduled(topics, readers, body_file):
    campaign_id = create(body_file)
    code, out, err = run("schedule", campaign_id, "--at", "2030-12-07T09:00+01:00")
    assert code == 0 and out == f"campaign {campaign_id} scheduled for 2030-12-07T09:00+01:00: 2 recipients now\n"
    report = json.loads(run("status", campaign_id, "--json")[1])
    assert report["state"] == "scheduled"
    campaign = Campaign.objects.get()
    assert campaign.scheduled_at == dt.datetime(2030, 12, 7, 8, 0, tzinfo=dt.UTC)
    assert start_campaign(campaign.pk) is None  # not due yet: nothing starts


def test_schedule_without_offset_means_the_site_time_zone_in_summer_too(topics, readers, body_file):
    campaign_id = create(body_file)
    run("schedule", campaign_id, "--at", "2030-07-01T09:00")
    assert Campaign.objects.get().scheduled_at == dt.datetime(2030, 7, 1, 7, 0, tzinfo=dt.UTC)  # CEST, UTC+2


@pytest.mark.parametrize(
    "at, error",
    [
        ("morgen", "--at 'morgen' is not an ISO 8601 time such as 2026-12-07T09:00+01:00"),
        ("2020-01-01T09:00+01:00", "--at 2020-01-01T09:00+01:00 is in the past; use `campaign send` to send now"),
    ],
)
def test_schedule_with_a_bad_time_fails_with_one_line_and_stays_a_draft(topics, body_file, at, error):
    campaign_id = create(body_file)
    code, out, err = run("schedule", campaign_id, "--at", at)
    assert (code, out, err.strip()) == (1, "", error)
    assert Campaign.objects.get().state == "draft"


def test_unschedule_returns_to_draft_and_only_a_scheduled_campaign_can_be_unscheduled(topics, readers, body_file):
    campaign_id = create(body_file)
    run("schedule", campaign_id, "--at", "2030-12-07T09:00+01:00")
    assert run("unschedule", campaign_id) == (0, f"campaign {campaign_id} draft\n", "")
    assert json.loads(run("status", campaign_id, "--json")[1])["state"] == "draft"
    code, _out, err = run("unschedule", campaign_id)
    assert code == 1 and err.strip() == f"campaign {campaign_id} is draft; this needs: scheduled"


def test_duplicate_prints_the_new_drafts_id(topics, readers, body_file):
    campaign_id = create(body_file)
    run("send", campaign_id)
    code, out, _err = run("duplicate", campaign_id)
    copy = Campaign.objects.get(pk=int(out))
    assert code == 0 and copy.state == "draft" and copy.body == Campaign.objects.get(pk=campaign_id).body


def test_list_json_shows_id_state_subject_and_send_time(topics, readers, body_file):
    first = create(body_file)
    second = create(body_file)
    run("schedule", second, "--at", "2030-12-07T09:00+01:00")
    code, out, _err = run("list", "--json")
    rows = {row["id"]: row for row in json.loads(out)}
    assert code == 0 and list(rows) == [int(second), int(first)]  # newest first
    assert rows[int(second)]["state"] == "scheduled" and rows[int(second)]["subject"] == "S"
    assert rows[int(second)]["scheduled_at"] == "2030-12-07T09:00:00+01:00" and rows[int(first)]["scheduled_at"] is None
    code, out, _err = run("list")
    assert code == 0 and out.splitlines()[0].split()[:3] == [second, "scheduled", "2030-12-07T09:00"]


def test_pause_resume_and_cancel_from_the_command_line(topics, readers, body_file):
    campaign_id = create(body_file)
    run("send", campaign_id)
    assert run("pause", campaign_id)[1] == f"campaign {campaign_id} paused\n"
    assert run("resume", campaign_id)[1] == f"campaign {campaign_id} scheduled\n"
    assert run("cancel", campaign_id)[1] == f"campaign {campaign_id} cancelled\n"
    code, _out, err = run("resume", campaign_id)
    assert code == 1 and "this needs: paused" in err


def test_send_twice_fails_because_only_a_draft_can_be_scheduled(topics, readers, body_file):
    campaign_id = create(body_file)
    run("send", campaign_id)
    code, _out, err = run("send", campaign_id)
    assert code == 1 and err.strip() == f"campaign {campaign_id} is scheduled; only a draft can be scheduled"


def test_an_empty_digest_warns_when_scheduled_and_is_skipped_when_it_starts(topics, readers):
    _code, campaign_id, _err = run("create", "--subject", "Rückblick", "--topics", "finanznachrichten", "--digest")
    code, _out, err = run("send", campaign_id.strip())
    assert (
        code == 0 and err == "warning: no new articles so far: a digest still empty when sending starts is not sent\n"
    )
    campaign = start_campaign(int(campaign_id))
    assert campaign.state == "cancelled" and not Delivery.objects.exists()
    assert campaign.events.last().action == "skipped"


def test_status_json_reports_state_and_delivery_counts(topics, readers, body_file):
    campaign_id = create(body_file)
    run("send", campaign_id)
    start_campaign(int(campaign_id))
    code, out, _err = run("status", campaign_id, "--json")
    report = json.loads(out)
    assert code == 0 and report["id"] == int(campaign_id) and report["state"] == "sending"
    assert report["total"] == 2 and report["queued"] == 2 and report["sent"] == 0
    for key in ["sending", "failed", "skipped_withdrawn", "skipped_suppressed", "bounced", "rate_per_minute"]:
        assert report[key] == 0, key


def test_status_without_json_prints_one_line_per_figure(topics, body_file):
    _code, campaign_id, _err = run(
        "create", "--subject", "S", "--topics", "finanznachrichten", "--body-file", str(body_file)
    )
    code, out, _err = run("status", campaign_id.strip())
    assert code == 0 and "state: draft\n" in out and "total: 0\n" in out
